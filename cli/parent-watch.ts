/**
 * Stopping with npm. Started by npm (`npm start`, `npx signalbox serve`, `npm exec`), this
 * process is, where `sh` is dash (Debian, Ubuntu, the node images), the child of a shell
 * npm started, not of npm: npm passes SIGTERM and SIGINT on to that shell, and the shell
 * ends without passing them on, so the engine was left running (holding its ports and
 * its store) after the npm process it was started by had gone. Under npm,
 * `signalbox serve` therefore watches its parent process and stops, as on SIGTERM, once
 * that parent is gone (this process is then another's child). Not otherwise: a server
 * started with `nohup … &` outlives the shell that started it on purpose.
 *
 * What is watched is the parent: should npm itself be killed (SIGKILL), the shell stays,
 * waiting for this process, and so does the engine. Where `sh` replaces itself with the
 * command (bash), npm's signals reach the engine directly.
 */

/**
 * Whether this process was started by npm, or by a script npm runs: npm (and yarn, pnpm
 * and bun) set `npm_lifecycle_event` for the scripts and `exec` commands they run, and
 * their children inherit it.
 */
export const startedByNpm = (env: NodeJS.ProcessEnv = process.env): boolean => env.npm_lifecycle_event !== undefined

/** This process's parent when this module was loaded: as `signalbox serve` starts, before the engine does. */
export const parentAtStart = process.ppid

/**
 * Calls `gone` once, when `parent` (default: the parent at start) is no longer this
 * process's parent: at once if it is not any more, else at the first look that finds so,
 * looking every `everyMs` (default 250 ms). The looks do not keep the process alive.
 * Returns a function that stops watching.
 */
export function onParentGone(gone: () => void, parent = parentAtStart, everyMs = 250): () => void {
  const timer = setInterval(() => look(), everyMs)
  timer.unref()
  const look = () => {
    if (process.ppid === parent) return
    clearInterval(timer)
    gone()
  }
  look()
  return () => clearInterval(timer)
}
