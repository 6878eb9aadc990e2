/**
 * The worker side of the protocol, the same over every transport: register functions,
 * trigger types and triggers, call functions, serve calls. It remembers what it
 * registered and replays it after every reconnect (behind a `reattach`), so a worker
 * survives a dropped connection or an engine restart without its author doing anything.
 */
import type { ErrorBody, RegistrationResult } from '../protocol/messages.js'
import { errors, type ErrorCode } from '../protocol/errors.js'
import { silentLogger, type WorkerLogger } from './worker-log.js'
import type { CronEvent, HttpRequest, HttpResponse, QueueBatch, QueueResult } from '../protocol/trigger-payloads.js'

/** What a transport gives a worker: a way to send, and notice of what happens. */
export interface Link {
  send(message: object): void
  /** Closes the connection; a promise, when there is one, settles once it has closed. */
  close(): void | Promise<void>
}

/** A function's handler: receives the call's data, returns its result (or throws). */
export type Handler = (data: any, metadata?: unknown) => unknown

/** What `registerFunction` is told about a function besides its handler. */
export interface FunctionOptions {
  description?: string
  metadata?: unknown
  request_format?: unknown
  response_format?: unknown
}

/**
 * `R`, with every key `Shape` does not have turned into `never`: a result with a
 * misspelt field (`status_cod`) does not compile.
 */
export type NoExtraKeys<R, Shape> = { [K in keyof R]: K extends keyof Shape ? R[K] : never }

/** A value or a promise of it. */
type Awaitable<T> = T | Promise<T>

/** A function registered: its id, and how to take it back. */
export interface RegisteredFunction {
  id: string
  unregister(): void
}

/** A trigger as a trigger-type provider receives it. */
export interface TriggerConfig {
  id: string
  function_id: string
  config: any
  metadata?: unknown
}

/** What a trigger-type provider does with registrations of its type. */
export interface TriggerTypeHandler {
  /** Accept (return) or refuse (throw; `err.code` is passed on, default `invalid_config`). */
  registerTrigger(trigger: TriggerConfig): unknown
  unregisterTrigger(trigger: TriggerConfig): unknown
}

export interface TriggerRequest {
  id: string
  trigger_type: string
  function_id: string
  config: Record<string, unknown>
  metadata?: unknown
}

export interface InvokeOptions {
  timeout_ms?: number
  metadata?: unknown
}

/**
 * A call that ended in an error: `code` as the engine or serving worker gave it, and
 * `details` when the error says more than its message (`Did you mean 'users::get'?`).
 */
export class InvocationError extends Error {
  readonly code: string
  readonly details: string | undefined
  readonly body: unknown
  constructor(body: unknown) {
    const e = (typeof body === 'object' && body !== null ? body : {}) as Partial<ErrorBody>
    super(typeof e.message === 'string' ? e.message : typeof body === 'string' ? body : JSON.stringify(body))
    this.name = 'InvocationError'
    this.code = typeof e.code === 'string' ? e.code : ('unknown' satisfies ErrorCode)
    this.details = typeof e.details === 'string' ? e.details : undefined
    this.body = body
  }
}

type Incoming = Record<string, any> & { type: string }

/** A handler's error as the engine is told it: its own `code` when it has one. */
const errorOf = (err: unknown, fallback: 'invocation_failed' | 'invalid_config'): ErrorBody => {
  const body = errors.handlerFailed(err, fallback)
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? { ...body, code } : body
}

/** Answers to a replayed registration that may come right once another worker is back. */
const RETRYABLE = new Set(['trigger_type_not_found', 'function_not_found', 'provider_unavailable', 'provider_timeout'])
const RETRY_MAX_MS = 30_000

/** A worker connected to an engine, over whichever transport made it. */
export class WorkerClient {
  /** The engine's id for this worker's current session. */
  workerId: string | undefined
  private reattachToken: string | undefined
  private greeted = false
  private link: Link | undefined
  private closed = false
  private seq = 0
  private readonly functions = new Map<string, { handler: Handler; options: Record<string, unknown> }>()
  private readonly triggerTypes = new Map<string, { description: string; handler: TriggerTypeHandler }>()
  /** Triggers this worker registered (or is registering), replayed after every reconnect. */
  private readonly triggers = new Map<string, TriggerRequest>()
  /** Replayed triggers waiting to be tried again, and how long the last wait was. */
  private readonly retries = new Map<string, { timer: NodeJS.Timeout; delay: number }>()
  /** Provider side: triggers of our types the engine registered with us, by forwarded id. */
  private readonly provided = new Map<string, TriggerConfig & { trigger_type: string }>()
  private readonly registering = new Map<string, Array<(r: RegistrationResult) => void>>()
  private readonly calls = new Map<string, { resolve(v: unknown): void; reject(e: Error): void }>()
  private readonly errorListeners = new Set<(error: ErrorBody, ref?: unknown) => void>()
  private readyWaiters: Array<(id: string) => void> = []
  /** Calls this worker is serving now; `close()` lets them finish. */
  private serving = 0
  /** Set while `close()` waits for the calls being served. */
  private onIdle: (() => void) | undefined
  /** Set while `close()` waits for the `pong` that follows its unregistrations. */
  private onPong: (() => void) | undefined
  private closing = false
  /** What `close()` returns, once called: every caller waits for the same close. */
  private closingDone: Promise<void> | undefined

  /**
   * @param name described to the engine through `engine::workers::register`
   * @param onClose called once by `close()`, for the transport to stop reconnecting
   * @param log where refused registrations are reported (default: nowhere)
   */
  constructor(
    readonly name?: string,
    private readonly onClose?: () => void | Promise<void>,
    private readonly log: WorkerLogger = silentLogger,
  ) {}

  /** Resolves with the worker id once the engine has greeted this connection of the worker. */
  ready(): Promise<string> {
    if (this.greeted && this.workerId !== undefined) return Promise.resolve(this.workerId)
    return new Promise((resolve) => this.readyWaiters.push(resolve))
  }

  /** Called by the transport when a connection opens: reattach, then replay everything. */
  attach(link: Link): void {
    this.link = link
    // The name first, so that the engine's log names the worker in what follows.
    if (this.name !== undefined) {
      this.send({ type: 'invokefunction', function_id: 'engine::workers::register', data: this.description(), action: { type: 'void' } })
    }
    // Then the reattach, before any registration (as iii-sdk sends it): the previous session is held until this one
    // holds everything it held, so its routes, schedules and consumers never lapse, and the
    // bindings to other workers' types, bound again alike after it, are taken over as they
    // were (their provider is told nothing).
    if (this.workerId !== undefined) this.send({ type: 'reattach', previous_worker_id: this.workerId, reattach_token: this.reattachToken })
    for (const [id, f] of this.functions) this.send({ ...f.options, type: 'registerfunction', id })
    const own = (id: string) => this.triggerTypes.has(this.triggers.get(id)!.trigger_type)
    for (const id of [...this.triggers.keys()]) if (!own(id)) this.replayTrigger(id)
    for (const [id, t] of this.triggerTypes) this.send({ type: 'registertriggertype', id, description: t.description })
    for (const id of [...this.triggers.keys()]) if (own(id)) this.replayTrigger(id)
  }

  /**
   * Called by the transport when the connection is lost: calls in flight fail. `final`
   * when no reconnect will follow: registrations still waiting are answered too.
   */
  detach(final = false): void {
    this.link = undefined
    this.greeted = false
    // Nothing more arrives on this connection: whoever waits for a pong or for the calls in hand stops waiting.
    this.onPong?.()
    this.onIdle?.()
    this.provided.clear()
    for (const { timer } of this.retries.values()) clearTimeout(timer)
    this.retries.clear()
    for (const [id, call] of this.calls) {
      this.calls.delete(id)
      call.reject(new InvocationError(errors.connectionLost('call')))
    }
    if (!final) return
    for (const [id, waiting] of this.registering) {
      this.registering.delete(id)
      for (const done of waiting) done({ type: 'triggerregistrationresult', id, trigger_type: '', function_id: '', error: errors.connectionLost('registration') })
    }
  }

  /**
   * Listens for `error` frames the engine sends this worker, and for every registration
   * it refused (`ref` is `{type: 'registertrigger', id}`), replayed ones included. A
   * refused trigger type or function comes as an error frame with `ref` `{type:
   * 'registertriggertype', id}` or `{type: 'registerfunction', id}`, and is logged too.
   */
  onError(listener: (error: ErrorBody, ref?: unknown) => void): () => void {
    this.errorListeners.add(listener)
    return () => this.errorListeners.delete(listener)
  }

  /**
   * Offers a function. Say which built-in trigger type calls it (`trigger_type`, not sent
   * to the engine) and the handler is typed for it: an `http` handler gets an
   * `HttpRequest` and must answer an `HttpResponse` (a misspelt field does not compile);
   * a `cron` handler gets a `CronEvent`; a `queue` handler gets a `QueueBatch<T>` and may
   * answer a `QueueResult`. Without it, the handler takes whatever the caller sends.
   */
  registerFunction<R>(
    id: string,
    handler: (request: HttpRequest) => Awaitable<R & HttpResponse & NoExtraKeys<R, HttpResponse>>,
    options: FunctionOptions & { trigger_type: 'http' },
  ): RegisteredFunction
  /** `T`: the type of the message bodies (`registerFunction<{ to: string }>('mail::send', …)`). */
  registerFunction<T = unknown>(id: string, handler: (batch: QueueBatch<T>) => Awaitable<QueueResult | void>, options: FunctionOptions & { trigger_type: 'queue' }): RegisteredFunction
  registerFunction<K extends 'cron' | undefined = undefined>(
    id: string,
    handler: K extends 'cron' ? (event: CronEvent) => unknown : Handler,
    options?: FunctionOptions & { trigger_type?: K },
  ): RegisteredFunction
  registerFunction(id: string, handler: Handler, options: FunctionOptions & { trigger_type?: string } = {}): RegisteredFunction {
    // `trigger_type` only types the handler; the engine is not told.
    const { trigger_type: _typedFor, ...wire } = options
    this.functions.set(id, { handler, options: wire })
    this.send({ ...wire, type: 'registerfunction', id })
    return { id, unregister: () => this.unregisterFunction(id) }
  }

  unregisterFunction(id: string): void {
    this.functions.delete(id)
    this.send({ type: 'unregisterfunction', id })
  }

  /**
   * Provides a trigger type. The engine answers only a refusal (`trigger_type_exists`,
   * `forbidden`, …): it goes to `onError` listeners (`ref` `{type: 'registertriggertype', id}`)
   * and to the log as a warning, as a refused trigger does.
   */
  registerTriggerType(type: { id: string; description?: string }, handler: TriggerTypeHandler) {
    this.triggerTypes.set(type.id, { description: type.description ?? '', handler })
    this.send({ type: 'registertriggertype', id: type.id, description: type.description ?? '' })
    return { id: type.id, unregister: () => this.unregisterTriggerType(type.id) }
  }

  unregisterTriggerType(id: string): void {
    this.triggerTypes.delete(id)
    this.send({ type: 'unregistertriggertype', id })
  }

  /**
   * Registers a trigger; resolves to the engine's `triggerregistrationresult`, never throws.
   * A refusal is also reported to `onError` listeners and logged (a warning naming the
   * trigger, the code, the text and its details), so it is seen even if nobody reads the
   * result.
   */
  registerTrigger(request: TriggerRequest): Promise<RegistrationResult> {
    const { id, trigger_type, function_id } = request as Partial<TriggerRequest>
    const refused = (message: string): Promise<RegistrationResult> => {
      const result: RegistrationResult = {
        type: 'triggerregistrationresult',
        id: typeof id === 'string' ? id : '',
        trigger_type: typeof trigger_type === 'string' ? trigger_type : '',
        function_id: typeof function_id === 'string' ? function_id : '',
        error: errors.invalidMessage(message),
      }
      this.reportRefusal(request, result.error!)
      return Promise.resolve(result)
    }
    if (typeof id !== 'string' || id.length === 0) return refused(`'id' must be a non-empty string, got ${id === undefined ? 'nothing' : JSON.stringify(id)}`)
    if (this.link && !this.send({ ...request, type: 'registertrigger' })) return refused('registertrigger: the request cannot be sent as JSON')
    return new Promise((resolve) => {
      this.await(id, (result) => {
        if (result.error && this.triggers.get(id) === request) this.triggers.delete(id)
        if (result.error) this.reportRefusal(request, result.error)
        resolve(result)
      })
      if (!this.triggers.has(id)) this.triggers.set(id, request)
    })
  }

  unregisterTrigger(id: string, trigger_type?: string): void {
    this.triggers.delete(id)
    const retry = this.retries.get(id)
    if (retry) clearTimeout(retry.timer)
    this.retries.delete(id)
    this.send(trigger_type === undefined ? { type: 'unregistertrigger', id } : { type: 'unregistertrigger', id, trigger_type })
  }

  /** Calls a function; resolves with its result, rejects with an InvocationError. */
  invoke<T = unknown>(function_id: string, data?: unknown, options: InvokeOptions = {}): Promise<T> {
    if (!this.link) return Promise.reject(new InvocationError(errors.connectionLost('not connected')))
    const invocation_id = `c${++this.seq}`
    return new Promise<T>((resolve, reject) => {
      this.calls.set(invocation_id, { resolve: resolve as (v: unknown) => void, reject })
      if (!this.send({ type: 'invokefunction', invocation_id, function_id, data, ...options })) {
        this.calls.delete(invocation_id)
        reject(new InvocationError(errors.invalidMessage('invokefunction: the call cannot be sent as JSON')))
      }
    })
  }

  /** Calls a function without waiting for, or getting, an answer. */
  invokeVoid(function_id: string, data?: unknown, options: Pick<InvokeOptions, 'metadata'> = {}): void {
    this.send({ type: 'invokefunction', function_id, data, action: { type: 'void' }, ...options })
  }

  /**
   * Ends the connection for good: no reconnect. Calls this worker is serving finish first:
   * it unregisters its functions (so the engine sends new calls to other workers that offer
   * them, as in a rolling deploy), waits for the engine to have taken that in (a JSON
   * `ping` after them: the engine handles one connection's frames in order, so once its
   * `pong` arrives every call it sent this worker has arrived too), waits for the calls in
   * hand to be answered, then closes; all within `drainMs` (default 10000; 0 closes at
   * once). Resolves once closed: over WebSocket, once the engine answered the close frame
   * (code 1000), so a program may exit right after and its session ends cleanly, not held
   * as a lost connection (at most 2 s more when the engine does not answer).
   */
  close(options: { drainMs?: number } = {}): Promise<void> {
    // A second call (a second Ctrl-C) waits for the same close.
    this.closingDone ??= this.drainAndClose(options)
    return this.closingDone
  }

  private async drainAndClose(options: { drainMs?: number }): Promise<void> {
    if (this.closed) return
    this.closing = true
    const drainMs = options.drainMs ?? 10_000
    if (this.link && drainMs > 0) {
      const deadline = Date.now() + drainMs
      if (this.functions.size > 0) {
        for (const id of this.functions.keys()) this.send({ type: 'unregisterfunction', id })
        this.send({ type: 'ping' })
        await this.waitFor((done) => (this.onPong = done), () => (this.onPong = undefined), deadline)
      }
      if (this.serving > 0 && this.link) await this.waitFor((done) => (this.onIdle = done), () => (this.onIdle = undefined), deadline)
    }
    await this.closeNow()
  }

  /** What `engine::workers::register` says of this worker. */
  private description() {
    return { name: this.name, runtime: 'node', version: process.version, pid: process.pid }
  }

  /** Waits until the callback `arm` is given is called, or until `deadline`; then `disarm`. */
  private waitFor(arm: (done: () => void) => void, disarm: () => void, deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), Math.max(0, deadline - Date.now()))
      const done = () => {
        clearTimeout(timer)
        disarm()
        resolve()
      }
      arm(done)
    })
  }

  /** Closes the link and stops the transport; resolves once both have closed. */
  private async closeNow(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const link = this.link
    this.detach(true)
    await Promise.all([link?.close(), this.onClose?.()])
  }

  /** Closed, or closing: a lost connection is not reconnected. */
  get isClosed(): boolean {
    return this.closed || this.closing
  }

  /** Called by the transport with each message from the engine. */
  handle(message: Incoming): void {
    switch (message.type) {
      case 'workerregistered':
        this.workerId = message.worker_id
        this.reattachToken = message.reattach_token
        this.greeted = true
        for (const resolve of this.readyWaiters.splice(0)) resolve(message.worker_id)
        return
      case 'triggerregistrationresult':
        return void this.settleRegistration(message as unknown as RegistrationResult)
      case 'invocationresult': {
        const call = this.calls.get(message.invocation_id)
        if (!call) return
        this.calls.delete(message.invocation_id)
        if (message.error !== undefined && message.error !== null) call.reject(new InvocationError(message.error))
        else call.resolve(message.result)
        return
      }
      case 'invokefunction':
        return void this.serve(message)
      case 'registertrigger':
        return void this.provide(message)
      case 'unregistertrigger': {
        const known = this.provided.get(message.id)
        this.provided.delete(message.id)
        const type = this.triggerTypes.get(message.trigger_type)
        if (type) void Promise.resolve().then(() => type.handler.unregisterTrigger(known ?? { id: message.id, function_id: message.function_id, config: message.config })).catch(() => {})
        return
      }
      case 'ping':
        return void this.send({ type: 'pong' })
      case 'pong':
        return void this.onPong?.()
      case 'error': {
        const ref = message.ref as { type?: string; id?: string } | undefined
        if (ref?.type === 'registertrigger' && ref.id !== undefined) {
          // Whoever waits for the registration reports its refusal.
          if (this.settleRegistration({ type: 'triggerregistrationresult', id: ref.id, trigger_type: '', function_id: '', error: message.error })) return
        } else if (ref?.type === 'invokefunction' && ref.id !== undefined && this.calls.has(ref.id)) {
          const call = this.calls.get(ref.id)!
          this.calls.delete(ref.id)
          call.reject(new InvocationError(message.error))
        } else if ((ref?.type === 'registertriggertype' || ref?.type === 'registerfunction') && ref.id !== undefined) {
          // Refused registrations of a type or a function are logged like a refused trigger, so nobody misses them.
          const what = ref.type === 'registertriggertype' ? 'trigger type' : 'function'
          const error = message.error as ErrorBody
          this.log.warn(
            { [ref.type === 'registertriggertype' ? 'trigger_type' : 'function_id']: ref.id, error },
            `${what} '${ref.id}' was refused: ${error?.code}: ${error?.message ?? ''}${error?.details ? ` (${error.details})` : ''}`,
          )
        }
        this.report(message.error, ref)
        return
      }
    }
  }

  /** Sends if connected; a message JSON cannot carry is reported, never thrown. */
  private send(message: object): boolean {
    if (!this.link) return false
    try {
      this.link.send(message)
      return true
    } catch (err) {
      this.report(errors.invalidMessage(`Could not send ${(message as { type?: string }).type}: ${(err as Error).message}`))
      return false
    }
  }

  private report(error: ErrorBody, ref?: unknown): void {
    for (const listener of this.errorListeners) listener(error, ref)
  }

  private await(id: string, done: (r: RegistrationResult) => void): void {
    const waiting = this.registering.get(id)
    if (waiting) waiting.push(done)
    else this.registering.set(id, [done])
  }

  /**
   * Sends a remembered trigger again after a reconnect. If the engine cannot take it yet
   * (its type's provider or its function's worker is not back), it is tried again with
   * backoff while the connection lasts; any other refusal drops it and is reported.
   */
  private replayTrigger(id: string): void {
    const request = this.triggers.get(id)
    if (!request || !this.link) return
    if (!this.registering.has(id)) {
      this.await(id, (result) => {
        if (!result.error) return void this.retries.delete(id)
        if (this.triggers.get(id) !== request) return
        if (RETRYABLE.has(result.error.code) && this.link) {
          const delay = Math.min(RETRY_MAX_MS, (this.retries.get(id)?.delay ?? 500) * 2)
          this.retries.set(id, { delay, timer: setTimeout(() => this.replayTrigger(id), delay) })
          return
        }
        this.triggers.delete(id)
        this.retries.delete(id)
        this.reportRefusal(request, result.error)
      })
    }
    this.send({ ...request, type: 'registertrigger' })
  }

  /** Hands a registration's answer to the first who waits for it; false when nobody did. */
  private settleRegistration(result: RegistrationResult): boolean {
    const waiting = this.registering.get(result.id)
    const done = waiting?.shift()
    if (waiting && waiting.length === 0) this.registering.delete(result.id)
    done?.(result)
    return done !== undefined
  }

  /** A refused registration: to the `onError` listeners, and to the log as one sentence. */
  private reportRefusal(request: Partial<TriggerRequest>, error: ErrorBody): void {
    const { id, trigger_type, function_id } = request
    this.log.warn(
      { trigger_id: id, trigger_type, function_id, error },
      `trigger '${String(id)}' (${String(trigger_type)} → ${String(function_id)}) was refused: ${error.code}: ${error.message ?? ''}${error.details ? ` (${error.details})` : ''}`,
    )
    this.report(error, { type: 'registertrigger', id })
  }

  private async serve(message: Incoming): Promise<void> {
    const { invocation_id, function_id } = message
    const fn = this.functions.get(function_id)
    let reply: Record<string, unknown>
    if (!fn) {
      reply = { type: 'invocationresult', invocation_id, function_id, error: errors.functionNotOffered(function_id) }
    } else {
      this.serving++
      try {
        reply = { type: 'invocationresult', invocation_id, function_id, result: await fn.handler(message.data, message.metadata) }
      } catch (err) {
        reply = { type: 'invocationresult', invocation_id, function_id, error: errorOf(err, 'invocation_failed') }
      }
      this.serving--
    }
    if (invocation_id !== undefined && !this.send(reply)) this.send({ type: 'invocationresult', invocation_id, function_id, error: errors.resultNotJson(function_id) })
    if (this.serving === 0) this.onIdle?.()
  }

  private async provide(message: Incoming): Promise<void> {
    const { id, trigger_type, function_id, config, metadata } = message
    const type = this.triggerTypes.get(trigger_type)
    let error: ErrorBody | undefined
    if (!type) error = errors.triggerTypeNotMine(trigger_type)
    else {
      try {
        await type.handler.registerTrigger({ id, function_id, config, metadata })
        this.provided.set(id, { id, function_id, config, metadata, trigger_type })
      } catch (err) {
        error = errorOf(err, 'invalid_config')
      }
    }
    this.send(error ? { type: 'triggerregistrationresult', id, trigger_type, function_id, error } : { type: 'triggerregistrationresult', id, trigger_type, function_id })
  }
}

