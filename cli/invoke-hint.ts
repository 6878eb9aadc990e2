/**
 * The hint under a failed `signalbox invoke`: what to do about the error, by where it came
 * from. The engine's own `details` (a "did you mean") come first; then, for an engine
 * function (`engine::…`), where its input is described; for a worker's function, the
 * engine's codes (not found, timed out, the worker left, …) or, for anything else, that
 * the error is the function's own, from the worker serving it, named.
 */
import type { ErrorCode } from '../protocol/errors.js'

/** A failed call as `invoke` knows it. */
export interface Failure {
  code: string
  details?: string
}

/** Where engine functions, their input and answers are described. */
const ENGINE_FUNCTIONS_DOC = 'docs/protocol.md, section 10 (Engine functions)'

/** Hints for the codes the engine answers about any call, whoever serves it. */
const ENGINE_CODES: Partial<Record<ErrorCode, (function_id: string) => string>> = {
  function_not_found: () => "'signalbox ls functions' lists the functions offered",
  invocation_timeout: () => 'give it longer with --timeout-ms',
  forbidden: () => "the token's scope does not allow it (docs/security.md)",
  too_many_requests: () => 'a limit of the engine was reached (docs/limits.md); try again once calls in flight have finished',
  worker_disconnected: (f) => `the worker serving ${f} left, or the engine stopped, before it answered; 'signalbox ls functions' shows who serves it now`,
  invalid_result: (f) => `the worker serving ${f} answered with a malformed result: a fault of that worker (its SDK or handler), not of this call`,
  payload_too_large: () => 'the data is larger than the engine allows (docs/limits.md)',
  queue_unavailable: () => 'the engine runs no queue store (docs/queues.md)',
}

/** Hints for what an engine function answers. */
const ENGINE_FUNCTION_CODES: Partial<Record<ErrorCode, (function_id: string) => string>> = {
  invalid_message: (f) => `${ENGINE_FUNCTIONS_DOC} says what ${f} takes; give it as one JSON argument, quoted for the shell ('signalbox help invoke')`,
  engine_error: (f) => `the engine could not do it; its log says more, and ${ENGINE_FUNCTIONS_DOC} describes ${f}`,
  not_found: () => "'signalbox ls workers' lists the workers connected",
  trigger_not_found: () => "'signalbox ls triggers' lists the triggers",
}

/**
 * The hint for a failed call of `function_id`. `servedBy`: the workers serving it, as the
 * lists name them (`billing (1a2b3c4d)`), when they could be asked; named in the hint for
 * an error of the function's own.
 */
export function invokeHint(function_id: string, failure: Failure, servedBy?: readonly string[]): string {
  if (failure.details) return failure.details
  const code = failure.code as ErrorCode
  const engineFunction = function_id.startsWith('engine::')
  const known = (engineFunction ? ENGINE_FUNCTION_CODES[code] : undefined) ?? ENGINE_CODES[code]
  if (known) return known(function_id)
  if (engineFunction) return `${ENGINE_FUNCTIONS_DOC} describes ${function_id} and what it answers`
  const who = servedBy && servedBy.length > 0 ? `the worker serving it (${servedBy.join(', ')})` : 'the worker serving it'
  return `the error is ${function_id}'s own, from ${who}: its handler threw it or answered with it; that worker's log says more`
}

/** Whether the hint for this failure names the workers serving the function (so they are worth asking for). */
export const namesWorkers = (function_id: string, failure: Failure): boolean =>
  !failure.details && !function_id.startsWith('engine::') && ENGINE_CODES[failure.code as ErrorCode] === undefined
