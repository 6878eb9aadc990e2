/** Memory of a process from /proc: current RSS and peak RSS (VmHWM), in bytes. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

export function procMemory(pid: number | 'self' = 'self'): { rss: number; peakRss: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), peakRss: kb('VmHWM') }
}

let ticksPerSecond: number | undefined

/** CPU time a process has used so far, user and system, in milliseconds (from /proc/<pid>/stat). */
export function procCpu(pid: number): { user: number; system: number } {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may hold spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ms = (ticks: string) => (Number(ticks) * 1000) / ticksPerSecond!
  return { user: ms(fields[11]), system: ms(fields[12]) }
}

/** CPU time every core of the machine has spent busy so far (all but idle and iowait), in milliseconds, from /proc/stat. */
export function machineBusyMs(): number {
  procCpu(process.pid) // reads the clock's ticks per second once
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const idle = fields[3] + (fields[4] ?? 0)
  // guest and guest_nice (fields 9, 10) are counted in user and nice already.
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0)
  return ((total - idle) * 1000) / ticksPerSecond!
}
