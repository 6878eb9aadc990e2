/** BENCHMARKS.md from a run's sections. */
import { COMPARISON_RUNS, table, type Section } from './common.js'
import type { machineInfo } from './machine.js'

export function report(input: { machine: ReturnType<typeof machineInfo>; sections: Section[]; runs: number; totalSeconds: number; argv: string[]; notes: string; date: string }): string {
  const { machine, sections } = input
  const rows = sections.flatMap((s) => s.rows)
  const withTarget = rows.filter((r) => r.pass !== null)
  const held = withTarget.filter((r) => r.pass)
  const mark = (p: boolean | null) => (p === null ? '' : p ? 'pass' : '**FAIL**')
  const out: string[] = []
  out.push('# Benchmarks')
  out.push('')
  out.push(
    `Written by \`npm run bench\` (bench/run.ts) on ${input.date.slice(0, 16).replace('T', ' ')} UTC in ${Math.round(input.totalSeconds)} s${input.argv.length ? ` (arguments: \`${input.argv.join(' ')}\`)` : ''}. ` +
      `Every figure is the median of ${input.runs} runs unless its section says otherwise, and every ratio is against a baseline measured in the same run, interleaved with it. ` +
      'Baselines (bench/procs/) are hand-written with plain `ws` and `node:http`: no validation, no actors. Everything runs on loopback on this one machine; load generators, workers, the engine and the baselines are separate processes sharing its cores.',
  )
  out.push('')
  out.push(
    'Run it with `npm run bench` (about 28 minutes; it rewrites this file when every scenario ran), one scenario with `npm run bench -- roundtrip` (or http, routes, register, idle, queue, cron, profile, micro, startup, cluster; the report then goes to a file in bench/profiles/, not committed), `--runs N` for the number of rounds (5 by default; ' + COMPARISON_RUNS + ' for the two comparisons with the baseline relays, roundtrip and http), `--profile` to run the engine (and baseline) of the two round-trip scenarios under `node --cpu-prof` into bench/profiles/, and `--report` to rebuild this file from the last complete run and bench/NOTES.md without measuring. The machine is shared: the 1-minute load average at the start and end of each scenario is given with it, since other processes running meanwhile depress every figure (ratios less, as each target and its baseline are measured alternately).',
  )
  out.push('')
  out.push('## Machine')
  out.push('')
  out.push(
    table(
      ['', ''],
      [
        ['CPU', `${machine.cpu}, ${machine.cores} cores`],
        ['memory', machine.memory],
        ['OS', machine.os],
        ['Node.js', machine.node],
        ['signalbox', `${machine.signalbox}, commit ${machine.commit}`],
        ['packages', Object.entries(machine.packages).map(([k, v]) => `${k} ${v}`).join(', ')],
      ],
    ),
  )
  out.push('')
  out.push('## Summary')
  out.push('')
  out.push(`${held.length} of ${withTarget.length} targets hold.`)
  out.push('')
  out.push(table(['scenario', 'figure', 'signalbox', 'baseline', 'ratio', 'target', 'result'], rows.map((r) => [r.scenario, r.figure, r.value, r.baseline ?? '', r.ratio ?? '', r.target, mark(r.pass)])))
  out.push('')
  if (input.notes.trim()) {
    out.push(input.notes.trim())
    out.push('')
  }
  out.push('## Scenarios in detail')
  out.push('')
  for (const s of sections) {
    out.push(`### ${s.title}`)
    out.push('')
    if (s.seconds !== undefined) out.push(`_\`node dist/bench/run.js ${s.id}\`; took ${Math.round(s.seconds)} s in this run${s.load ? `; the machine's 1-minute load average was ${s.load[0].toFixed(2)} at its start and ${s.load[1].toFixed(2)} at its end` : ''}._`)
    out.push('')
    out.push(s.details)
    out.push('')
  }
  return out.join('\n')
}
