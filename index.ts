/**
 * signalbox: an actor-model trigger engine. Embed it with `createEngine`, connect workers
 * in-process with `engine.connect()` or from other processes with `connectWorker(url)`.
 */
export { createEngine, type Engine, type EngineOptions } from './adapters/engine.js'
export { createLogger } from './adapters/logger.js'
export { ListenError } from './adapters/listen-error.js'
export { StoreOpenError } from './adapters/open-errors.js'
export { OPTION_TABLE, type Logger, type LogLevel } from './core/options.js'
export { ConnectError, connectWorker, type ConnectOptions } from './client/ws-client.js'
export {
  WorkerClient,
  InvocationError,
  type Handler,
  type FunctionOptions,
  type RegisteredFunction,
  type NoExtraKeys,
  type TriggerConfig,
  type TriggerTypeHandler,
  type TriggerRequest,
  type InvokeOptions,
} from './client/worker.js'
export type { WorkerLogger } from './client/worker-log.js'
export type { HttpRequest, HttpResponse, BinaryBody, CronEvent, QueueBatch, QueueMessage, QueueResult } from './protocol/trigger-payloads.js'
export type { RegistrationResult, ErrorBody, Outbound, Inbound } from './protocol/messages.js'
export { ERROR_CODES, type ErrorCode } from './protocol/errors.js'
export { engineMachine } from './machines/engine.machine.js'
export { sessionMachine } from './machines/session.machine.js'
export { triggerMachine } from './machines/trigger.machine.js'
