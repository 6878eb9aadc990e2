/**
 * Every error code signalbox produces, in one table: what it means and where it appears.
 * docs/errors.md is generated from this table (`npm run diagrams`), and a test fails when
 * a source file writes a code that is not here, or writes one inline instead of through
 * `errors` below.
 *
 * The texts of the reference page for `registertrigger` (duplicate id, unknown type,
 * unknown function, invalid cron expression) are reproduced here to the letter.
 */
import type { ErrorBody } from './messages.js'

/** Where a code can reach a user. */
type Where = 'error frame' | 'registration result' | 'invocation result' | 'HTTP answer' | 'dead letter' | 'worker client' | 'operator console'

interface CodeInfo {
  where: readonly Where[]
  meaning: string
}

/** The table: code → where it appears and what it means. */
export const ERROR_CODES = {
  invalid_json: { where: ['error frame', 'HTTP answer'], meaning: 'A WebSocket text frame, or an HTTP request body sent as JSON, is not valid JSON (HTTP 400).' },
  invalid_message: {
    where: ['error frame', 'registration result', 'invocation result'],
    meaning: "A message is malformed; the text names the message type and the field (`registertrigger: 'config' must be an object, got an array`). Engine functions answer it for bad input too.",
  },
  unknown_message_type: { where: ['error frame'], meaning: "A message's `type` is not one of the protocol's messages. The connection stays open." },
  binary_not_supported: { where: ['error frame'], meaning: 'A binary WebSocket frame arrived on the worker endpoint, which speaks JSON in text frames.' },
  duplicate_function_id: { where: ['error frame'], meaning: 'The session already registered this function id, or the id is an engine function (`engine::…`).' },
  function_not_found: {
    where: ['registration result', 'invocation result', 'error frame', 'HTTP answer'],
    meaning: 'No live session offers the function: a trigger bound to it, a call of it (HTTP 503 for an http trigger), or an `unregisterfunction` of a function the session does not have.',
  },
  duplicate_trigger_id: { where: ['registration result'], meaning: 'The session already has a trigger with this id (ids are unique per session).' },
  trigger_type_not_found: { where: ['registration result', 'error frame'], meaning: 'Nobody provides the trigger type, or the session unregisters a type it does not provide.' },
  trigger_type_exists: { where: ['error frame'], meaning: 'The trigger type is already provided: by the engine (http, cron, queue) or by another live session.' },
  trigger_not_found: {
    where: ['error frame', 'invocation result'],
    meaning: '`unregistertrigger` names a trigger the session does not have (or of another type); `engine::registered-triggers::info` names none.',
  },
  invalid_config: { where: ['registration result'], meaning: "The trigger type refused the config; the text says which field and why. A provider's refusal without a code arrives as this code." },
  provider_timeout: { where: ['registration result'], meaning: "A worker-defined type's provider did not answer a registration within the registration timeout." },
  provider_unavailable: { where: ['registration result'], meaning: "A worker-defined type's provider left before answering the registration." },
  trigger_unregistered: { where: ['registration result'], meaning: 'The trigger was unregistered while its registration was still pending.' },
  invocation_timeout: { where: ['invocation result', 'HTTP answer'], meaning: 'The serving worker did not answer within the timeout (HTTP 504).' },
  worker_disconnected: {
    where: ['invocation result', 'HTTP answer'],
    meaning: 'The serving worker disconnected, or the engine stopped, before the call was answered (HTTP 503).',
  },
  invalid_result: { where: ['invocation result'], meaning: "The serving worker's `invocationresult` was malformed, so its caller gets this instead of waiting for the timeout." },
  unauthorized: {
    where: ['error frame', 'HTTP answer', 'worker client'],
    meaning: "A WebSocket upgrade (or a scrape of `/metrics`) without a valid `Authorization: Bearer` token when the engine has tokens (HTTP 401; `connectWorker` then rejects with this code); or a `reattach` naming a session whose reattach token does not match.",
  },
  forbidden: {
    where: ['error frame', 'registration result', 'invocation result', 'HTTP answer'],
    meaning: "The connection's token does not allow it: registering that function or trigger type, binding that trigger type or function, calling that function or `engine::*` (docs/security.md); HTTP 403 for `/metrics`; in the operator console, opening it, invoking that function or redriving (docs/console.md).",
  },
  too_many_requests: {
    where: ['error frame', 'registration result', 'invocation result', 'HTTP answer'],
    meaning: 'A documented limit was reached (docs/limits.md): functions, triggers or trigger types per session, calls waiting per session, calls in flight in the engine (HTTP 429 with `Retry-After` for an http trigger).',
  },
  queue_unavailable: { where: ['invocation result'], meaning: 'An enqueue or a queue engine function reached an engine that runs no queue store.' },
  engine_error: { where: ['invocation result'], meaning: 'An engine function failed for a reason of its own; the text says what.' },
  message_failed: { where: ['dead letter'], meaning: "The `last_error` of a message its function listed in `failed_message_ids`." },
  visibility_timeout: { where: ['dead letter'], meaning: 'The `last_error` of a message whose lease ended with no answer from its function.' },
  route_not_found: { where: ['HTTP answer'], meaning: 'No http trigger holds a route for the request path (HTTP 404).' },
  method_not_allowed: { where: ['HTTP answer'], meaning: 'The path is routed, but not for this method (HTTP 405, with `Allow`).' },
  bad_request: { where: ['HTTP answer'], meaning: 'The request could not be read: its target or its body (HTTP 400).' },
  payload_too_large: {
    where: ['HTTP answer', 'invocation result'],
    meaning: "The request body is larger than the HTTP listener allows (HTTP 413), a queue message is larger than `limits.queueMessageBytes`, or, in a cluster, a call to another engine is larger than the NATS server's `max_payload`.",
  },
  invalid_response: { where: ['HTTP answer'], meaning: 'An http-triggered function returned a response the engine cannot send: bad status, headers or body (HTTP 500).' },
  function_error: { where: ['HTTP answer'], meaning: 'An http-triggered function failed with an error that has no code of its own (HTTP 500).' },
  engine_stopping: { where: ['HTTP answer'], meaning: 'The engine is stopping and takes no new requests (HTTP 503).' },
  not_found: {
    where: ['HTTP answer', 'invocation result'],
    meaning: "A plain HTTP request on the worker port for a path it does not serve (HTTP 404); `engine::workers::info` for a worker that is not connected.",
  },
  connection_lost: { where: ['worker client'], meaning: 'The worker client lost its connection before the engine answered a call or registration.' },
  engine_unreachable: {
    where: ['worker client'],
    meaning: "`connectWorker` could not reach the engine before `connectTimeoutMs` passed; the text gives the last reason, how long it tried and how many attempts it made.",
  },
  invocation_failed: { where: ['worker client'], meaning: 'A handler of the worker client threw an error without a `code` of its own.' },
  disconnected: { where: ['operator console'], meaning: 'The console in the browser is not connected to the engine, or lost its connection before the engine answered an invoke or a redrive (it reconnects by itself).' },
  unknown: { where: ['worker client'], meaning: 'The worker client received an error without a `code` (an `InvocationError` then carries this).' },
} as const satisfies Record<string, CodeInfo>

export type ErrorCode = keyof typeof ERROR_CODES

/** An error body with a code from the table; `details` only when there is more to say. */
export const errorBody = (code: ErrorCode, message: string, details?: string): ErrorBody => (details ? { code, message, details } : { code, message })

/** Whether `code` is one of the table's. */
export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(ERROR_CODES, code)

/** `: worker 'billing' (<worker_id>)` after a text that mentions a worker, when it is known. */
const named = (worker: string | undefined) => (worker === undefined ? '' : `: ${worker}`)

/** The errors signalbox writes, by situation; every code comes from the table. */
export const errors = {
  // Frames
  invalidJson: (why: string) => errorBody('invalid_json', `Frame is not valid JSON: ${why.slice(0, 200)}`),
  invalidMessage: (text: string) => errorBody('invalid_message', text),
  unknownMessageType: (type: string) => errorBody('unknown_message_type', `Unknown message type '${type.length > 64 ? type.slice(0, 64) + '…' : type}'`),
  binaryNotSupported: () => errorBody('binary_not_supported', 'Binary frames are not supported: send JSON in text frames'),

  // Registrations (the reference page's texts, exactly; what more the engine can say goes in `details`)
  duplicateTriggerId: (id: string) => errorBody('duplicate_trigger_id', `A trigger with ID '${id}' is already registered`),
  /** `suggestion`: the known type the id is closest to, when one is close. */
  triggerTypeNotFound: (trigger_type: string, suggestion?: string) =>
    errorBody('trigger_type_not_found', `No trigger type registered with ID '${trigger_type}'`, suggestion === undefined ? undefined : `Did you mean '${suggestion}'?`),
  /** `suggestion`: the offered function the id is closest to, when one is close. */
  functionNotFound: (function_id: string, suggestion?: string) =>
    errorBody('function_not_found', `No function registered with ID '${function_id}'`, suggestion === undefined ? undefined : `Did you mean '${suggestion}'?`),
  invalidConfig: (text: string, details?: string) => errorBody('invalid_config', text, details),
  /** `why`: what is wrong with it (`'@hourlly' is not a nickname; did you mean '@hourly'?`). */
  invalidCronExpression: (schedule: string, why?: string) => errorBody('invalid_config', `Invalid cron expression: '${schedule}'`, why),

  // Registrations of functions and types, and unregistrations
  engineFunctionReserved: (id: string) => errorBody('duplicate_function_id', `Function '${id}' is an engine function`),
  duplicateFunctionId: (id: string) => errorBody('duplicate_function_id', `Function '${id}' is already registered by this worker`),
  functionNotMine: (id: string) => errorBody('function_not_found', `No function registered with ID '${id}' by this worker`),
  triggerTypeExists: (id: string, by: string) => errorBody('trigger_type_exists', `Trigger type '${id}' is already provided ${by}`),
  triggerTypeNotMine: (id: string) => errorBody('trigger_type_not_found', `This worker does not provide trigger type '${id}'`),
  triggerNotFound: (id: string, trigger_type?: string) =>
    errorBody('trigger_not_found', `No trigger with ID '${id}'${trigger_type !== undefined ? ` of type '${trigger_type}'` : ''} is registered by this worker`),

  // Worker-defined trigger types
  /** `provider`: the provider as texts name a worker (`worker 'billing' (<worker_id>)`), after the text's fixed start. */
  providerTimeout: (trigger_type: string, ms: number, provider?: string) =>
    errorBody('provider_timeout', `The provider of trigger type '${trigger_type}' did not answer within ${ms} ms${named(provider)}`),
  providerLeft: (trigger_type: string, provider?: string) =>
    errorBody('provider_unavailable', `The provider of trigger type '${trigger_type}' disconnected before answering${named(provider)}`),
  noProvider: (trigger_type: string) => errorBody('provider_unavailable', `No worker provides trigger type '${trigger_type}'`),
  unexpectedVerdict: (id: string) => errorBody('invalid_message', `No trigger registration '${id}' is awaiting a verdict from this worker`),
  triggerUnregistered: (id: string) => errorBody('trigger_unregistered', `Trigger '${id}' was unregistered before its registration completed`),
  /** A provider's refusal that is not an error body: its value becomes the text. */
  providerRefusal: (error: unknown) => errorBody('invalid_config', typeof error === 'string' ? error : JSON.stringify(error)),

  // Calls
  invocationTimeout: (function_id: string, ms: number) => errorBody('invocation_timeout', `Function '${function_id}' did not answer within ${ms} ms`),
  /** `worker`: the serving worker as texts name one (`worker 'billing' (<worker_id>)`), after the text's fixed start. */
  workerDisconnected: (function_id: string, worker?: string) =>
    errorBody('worker_disconnected', `The worker serving '${function_id}' disconnected before answering${named(worker)}`),
  engineStopped: (function_id: string) => errorBody('worker_disconnected', `The engine stopped before '${function_id}' answered`),
  noLiveWorker: (function_id: string, waited_ms: number) =>
    errorBody('worker_disconnected', `No worker offered '${function_id}' within ${waited_ms} ms: the connection of its worker was lost and no worker came back for it`),
  unexpectedResult: (invocation_id: string) =>
    errorBody('invalid_message', `No invocation '${invocation_id}' is awaiting a result from this worker (unknown, already answered or timed out)`),
  resultRefused: (why: string) => errorBody('invalid_result', `The serving worker's answer was refused: ${why}`),
  queueUnavailable: () => errorBody('queue_unavailable', 'This engine runs no queue store'),
  engineError: (why: string) => errorBody('engine_error', why),

  // Engine functions that look one thing up
  registeredTriggerNotFound: (id: string) => errorBody('trigger_not_found', `No trigger with ID '${id}' is registered`),
  workerNotFound: (who: string) => errorBody('not_found', `No worker ${who} is connected`),

  // Sessions
  reattachRefused: (worker_id: string) => errorBody('unauthorized', `The reattach token does not match worker '${worker_id}'`),

  // Auth (docs/security.md): `who` is the token's name
  tokenRequired: () => errorBody('unauthorized', "This engine requires a token: send 'Authorization: Bearer <token>' with the WebSocket upgrade (connectWorker(url, { token }))"),
  tokenRefused: () => errorBody('unauthorized', 'The token was not accepted'),
  mayNotRegister: (function_id: string, who: string) => errorBody('forbidden', `Token '${who}' may not register function '${function_id}' (its scope's 'register' patterns do not match)`),
  mayNotProvide: (trigger_type: string, who: string) => errorBody('forbidden', `Token '${who}' may not provide trigger type '${trigger_type}' (its scope has no 'provide_trigger_types')`),
  mayNotBindType: (trigger_type: string, who: string) => errorBody('forbidden', `Token '${who}' may not bind triggers of type '${trigger_type}' (its scope's 'trigger_types' patterns do not match)`),
  mayNotBindFunction: (function_id: string, who: string) =>
    errorBody('forbidden', `Token '${who}' may not bind a trigger to function '${function_id}' (not registered by this worker, and its scope's 'invoke' patterns do not match)`),
  mayNotBindEngineFunction: (function_id: string, who: string) => errorBody('forbidden', `Token '${who}' may not bind a trigger to engine function '${function_id}' (its scope has no 'engine')`),
  mayNotInvoke: (function_id: string, who: string) => errorBody('forbidden', `Token '${who}' may not call function '${function_id}' (its scope's 'invoke' patterns do not match)`),
  mayNotCallEngine: (function_id: string, who: string) => errorBody('forbidden', `Token '${who}' may not call engine function '${function_id}' (its scope has no 'engine')`),
  mayNotUseQueue: (queue: string, who: string) => errorBody('forbidden', `Token '${who}' may not use queue '${queue}' (its scope's 'queues' patterns do not match)`),
  metricsForbidden: (who: string) => errorBody('forbidden', `Token '${who}' may not read /metrics (its scope has no 'engine')`),

  // The operator console (docs/console.md): `who` is the token's name
  consoleForbidden: (who: string) => errorBody('forbidden', `Token '${who}' may not open the console (its scope has no 'engine': the console shows the engine's listings)`),
  consoleMayNotInvoke: (function_id: string, who: string) =>
    errorBody('forbidden', `Token '${who}' may not invoke '${function_id}' from the console (its scope's 'invoke' patterns do not match it${function_id.startsWith('engine::') ? ", or it has no 'engine'" : ''})`),
  /** `lacks`: what the token's scope lacks, in words (core/console-view.ts `redriveLacks`). */
  consoleMayNotRedrive: (who: string, lacks: string) =>
    errorBody('forbidden', `Token '${who}' may not redrive dead letters: ${lacks} (a console redrives with 'engine' and 'invoke' patterns that match 'engine::queue::dlq')`),
  consoleBusy: (max: number) => errorBody('too_many_requests', `This console already waits for ${max} answers; wait for some`),

  // Limits (docs/limits.md): `limit` is the option that sets it
  tooMany: (what: string, max: number, limit: string) => errorBody('too_many_requests', `This worker already has ${max} ${what}, the most allowed (option ${limit})`),
  tooManyCalls: (max: number) => errorBody('too_many_requests', `This worker already has ${max} calls waiting for an answer, the most allowed (option limits.callsPerSession); wait for some to finish`),
  engineBusy: (max: number) => errorBody('too_many_requests', `The engine already has ${max} calls in flight, the most allowed (option limits.callsInFlight); retry shortly`),
  clusterCallTooLarge: (function_id: string, bytes: number, max: number) =>
    errorBody('payload_too_large', `The call of '${function_id}' is ${bytes} bytes of JSON, more than the NATS server's max_payload of ${max}: it cannot cross the cluster`),
  messageTooLarge: (bytes: number, max: number) => errorBody('payload_too_large', `The queue message is ${bytes} bytes of JSON, more than the limit of ${max} (option limits.queueMessageBytes)`),

  // Queues (a dead letter's last_error)
  messageFailed: () => errorBody('message_failed', 'The function reported this message as failed'),
  leaseExpired: (receive_count: number) => errorBody('visibility_timeout', `Not acknowledged within its visibility timeout after ${receive_count} receives`),

  // HTTP answers
  routeNotFound: (method: string, path: string) => errorBody('route_not_found', `No route for ${method} ${path}`),
  methodNotAllowed: (method: string, path: string, allow: string) => errorBody('method_not_allowed', `${method} is not allowed on ${path}; allowed: ${allow}`),
  badRequestTarget: (url: string | undefined) => errorBody('bad_request', `Cannot read the request target ${JSON.stringify(url)}`),
  badRequest: (why: string) => errorBody('bad_request', `Could not read the request: ${why}`),
  badPathParam: (param: string, value: string) =>
    errorBody('bad_request', `Path parameter '${param}' is not valid percent-encoding: ${JSON.stringify(value.length > 200 ? value.slice(0, 200) + '…' : value)} (write '%' as '%25')`),
  dotSegment: (value: string, param?: string) => {
    const shown = JSON.stringify(value.length > 200 ? value.slice(0, 200) + '…' : value)
    return errorBody(
      'bad_request',
      param === undefined
        ? `Path ${shown} has a '.' or '..' segment: such paths are refused (resolve them before sending)`
        : `Path parameter '${param}' has a '.' or '..' segment once decoded: ${shown}; such paths are refused`,
    )
  },
  bodyNotJson: (why: string) => errorBody('invalid_json', `Request body is not valid JSON: ${why}`),
  bodyTooLarge: (limit: number, declared?: number) =>
    errorBody('payload_too_large', declared !== undefined ? `Request body of ${declared} bytes exceeds the limit of ${limit} bytes` : `Request body exceeds the limit of ${limit} bytes`),
  invalidResponse: (function_id: string, why: string) => errorBody('invalid_response', `Function '${function_id}' returned ${why}`),
  functionError: (function_id: string) => errorBody('function_error', `Function '${function_id}' failed`),
  engineStopping: () => errorBody('engine_stopping', 'The engine is stopping'),
  notFound: (method: string | undefined, url: string | undefined) => errorBody('not_found', `No route for ${method} ${url}`),

  // The worker client
  connectionLost: (what: 'call' | 'registration' | 'not connected') =>
    errorBody(
      'connection_lost',
      what === 'call' ? 'The connection to the engine was lost before the call was answered' : what === 'registration' ? 'The connection to the engine ended before it answered' : 'Not connected to the engine',
    ),
  /** `why`: the last attempt's failure; `ms`: how long it kept trying. */
  engineUnreachable: (url: string, why: string, ms: number, attempts: number) =>
    errorBody('engine_unreachable', `Cannot reach the engine at ${url}: ${why}; gave up after ${ms} ms and ${attempts} attempt${attempts === 1 ? '' : 's'}`),
  /** The engine refused the token (HTTP 401): it is not tried again. */
  engineRefusedToken: (url: string, why: string) => errorBody('unauthorized', `Cannot connect to the engine at ${url}: ${why}`),
  functionNotOffered: (function_id: string) => errorBody('function_not_found', `This worker has no function '${function_id}'`),
  resultNotJson: (function_id: string) => errorBody('invalid_result', `Function '${function_id}' returned a value that cannot be sent as JSON`),
  handlerFailed: (err: unknown, fallback: 'invocation_failed' | 'invalid_config') =>
    errorBody(fallback, err instanceof Error ? err.message : String(err)),
} satisfies Record<string, (...args: never[]) => ErrorBody>
