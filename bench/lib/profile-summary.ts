/**
 * Reads a V8 .cpuprofile and says where the time went: self time by origin (a package in
 * node_modules, a signalbox file, Node core, V8 builtins, GC), how often each origin was
 * anywhere on the stack, and the functions with the most self time. Idle time is left out
 * of every share.
 */
import { readFileSync } from 'node:fs'
import { table } from './common.js'

interface Node {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: Node[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export function origin(url: string, fn: string): string {
  if (!url) {
    if (fn === '(garbage collector)') return 'GC'
    if (fn === '(idle)') return 'idle'
    if (fn === '(program)') return '(program: native, unattributed)'
    if (fn === '(root)') return 'root'
    // Native code called from JS: socket writes (writev, writeUtf8String), JSON, crypto, …
    return fn ? `native ${fn}` : 'native (unnamed)'
  }
  const nm = url.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (url.startsWith('node:')) return 'Node core (net, stream, http, timers, …)'
  const dist = url.lastIndexOf('/dist/')
  if (dist !== -1) return `signalbox ${url.slice(dist + '/dist/'.length)}`
  return url
}

export interface ProfileSummary {
  busyMs: number
  wallMs: number
  self: Array<[string, number]>
  onStack: Array<[string, number]>
  functions: Array<[string, string, number]>
}

export function summarise(path: string): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byId = new Map<number, Node>()
  const parent = new Map<number, number>()
  for (const n of p.nodes) byId.set(n.id, n)
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfByOrigin = new Map<string, number>()
  const stackByOrigin = new Map<string, number>()
  const selfByFn = new Map<string, { origin: string; us: number }>()
  let busy = 0
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0
    const node = byId.get(p.samples[i])
    if (!node) continue
    const o = origin(node.callFrame.url, node.callFrame.functionName)
    if (o === 'idle') continue
    busy += dt
    selfByOrigin.set(o, (selfByOrigin.get(o) ?? 0) + dt)
    const file = node.callFrame.url ? node.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '').replace(/^file:\/\//, '') : ''
    const key = `${node.callFrame.functionName || '(anonymous)'} ${file ? `${file}:${node.callFrame.lineNumber + 1}` : ''}`.trim()
    const f = selfByFn.get(key) ?? { origin: o, us: 0 }
    f.us += dt
    selfByFn.set(key, f)
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!
      seen.add(origin(n.callFrame.url, n.callFrame.functionName))
    }
    for (const s of seen) stackByOrigin.set(s, (stackByOrigin.get(s) ?? 0) + dt)
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1])
  return {
    busyMs: busy / 1000,
    wallMs: (p.endTime - p.startTime) / 1000,
    self: sorted(selfByOrigin).map(([k, v]) => [k, v / busy]),
    onStack: sorted(stackByOrigin)
      .filter(([k]) => k !== 'root' && k !== 'GC' && k !== '(program: native, unattributed)')
      .map(([k, v]) => [k, v / busy]),
    functions: [...selfByFn.entries()].sort((a, b) => b[1].us - a[1].us).map(([k, v]) => [k, v.origin, v.us / busy]),
  }
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`

export function summaryMarkdown(s: ProfileSummary, top = 15): string {
  return [
    `Busy ${Math.round(s.busyMs)} ms of ${Math.round(s.wallMs)} ms profiled (shares below are of busy time).`,
    '',
    table(['origin', 'self time', 'on the stack'], s.self.slice(0, 12).map(([k, v]) => [k, pct(v), pct(s.onStack.find(([o]) => o === k)?.[1] ?? NaN).replace('NaN%', '—')])),
    '',
    table(['function (self time)', 'origin', 'share'], s.functions.slice(0, top).map(([k, o, v]) => [`\`${k}\``, o, pct(v)])),
  ].join('\n')
}
