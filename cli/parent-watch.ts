/**
 * Stopping with npm. Started by npm (`npm start`, `npx signalbox serve`, `npm exec`), this
 * process is the child of a shell npm started, not of npm: npm passes SIGTERM and SIGINT
 * on to that shell, and the shell ends without passing them on, so the engine was left
 * running (holding its ports) after the npm process it was started by had gone. Under
 * npm, `signalbox serve` therefore watches its parent process and stops, as on SIGTERM,
 * once that parent is gone (this process is then another's child). Not otherwise: a
 * server started with `nohup … &` outlives the shell that started it on purpose.
 */

/** Whether this process was started by npm (npm sets `npm_lifecycle_event` for the scripts and `exec` commands it runs). */
export const startedByNpm = (env: NodeJS.ProcessEnv = process.env): boolean => env.npm_lifecycle_event !== undefined

/**
 * Calls `gone` once, when the parent process this process had when it was called is no
 * longer its parent, looking every `everyMs` (default 250 ms). The look does not keep the
 * process alive. Returns a function that stops watching.
 */
export function onParentGone(gone: () => void, everyMs = 250): () => void {
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(timer)
    gone()
  }, everyMs)
  timer.unref()
  return () => clearInterval(timer)
}
