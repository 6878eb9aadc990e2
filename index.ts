/**
 * signalbox: an actor-model trigger engine. Embed it with `createEngine`, connect workers
 * in-process with `engine.connect()` or from other processes with `connectWorker(url)`.
 */
export { createEngine, type Engine, type EngineOptions } from './adapters/engine.js'
export { connectWorker, type ConnectOptions } from './adapters/ws-client.js'
export { WorkerClient, InvocationError, type Handler, type TriggerConfig, type TriggerTypeHandler, type TriggerRequest, type InvokeOptions } from './adapters/worker.js'
export { createLogger, type Logger, type LogLevel } from './adapters/logger.js'
export type { RegistrationResult, ErrorBody, Outbound, Inbound } from './adapters/messages.js'
export { engineMachine } from './machines/engine.machine.js'
export { sessionMachine } from './machines/session.machine.js'
export { triggerMachine } from './machines/trigger.machine.js'
