/**
 * A worker session that sends hostile frames (hostile-frames.ts) and checks that the engine
 * answered each as the protocol promises. Otherwise it behaves as a worker must: it answers
 * the calls and forwarded registrations the engine sends it (its hostile frames may have
 * registered functions, trigger types and triggers), so every call it started can end.
 *
 * `exchange` sends a batch, then a call of an engine function: messages of one connection
 * are handled in order, so once that call is answered every refusal of the batch has been
 * written. Then it waits for the answers that come later (calls to other workers,
 * registrations forwarded to a provider).
 */
import WebSocket from 'ws'
import { until } from '../harness.js'
import { answerKeyOf, expectationOf, stampIds, type Frame } from './hostile-frames.js'

type Msg = Record<string, any>

/** What a session found wrong: empty when the engine kept every promise. */
export interface Broken {
  /** Frames that asked with an id and got no answer, or more than one. */
  unanswered: Array<{ key: string; got: number; want: number; frame: string }>
  /** Refusal codes of frames that are not messages: how many were due and how many came. */
  codes: Array<{ code: string; want: number; got: number }>
}

export interface HostileSession {
  readonly worker_id: string
  /** Sends the frames and checks the answers; returns what was missing (nothing when all is well). */
  exchange(frames: Frame[], answerWithinMs?: number): Promise<Broken>
  /** How many frames it sent, and error frames it received. */
  readonly sent: () => number
  readonly errorFrames: () => number
  /** Ends the session in one of the ways a hostile client can; resolves with the close code the client saw. */
  end(how: 'close' | 'reset' | 'invalid-utf8' | 'oversize', maxPayload: number): Promise<number>
  readonly closed: Promise<number>
}

const describe = (f: Frame) => ('binary' in f ? `<binary ${f.binary.length} bytes>` : f.text.length > 300 ? `${f.text.slice(0, 300)}… (${f.text.length} characters)` : f.text)

export async function openHostileSession(url: string, tag: string): Promise<HostileSession> {
  const socket = new WebSocket(url, { maxPayload: 256 * 1024 * 1024, perMessageDeflate: false })
  socket.on('error', () => {})
  let closedResolve!: (code: number) => void
  const closed = new Promise<number>((r) => (closedResolve = r))
  socket.on('close', (code) => closedResolve(code))
  const answers = new Map<string, number>()
  const codes = new Map<string, number>()
  let barriers = 0
  let errorFrames = 0
  let sent = 0
  let worker_id = ''
  let n = 0

  const send = (m: Msg) => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify(m))
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) return
    const m = JSON.parse(data.toString('utf8')) as Msg
    const key = answerKeyOf(m)
    if (key) answers.set(key, (answers.get(key) ?? 0) + 1)
    switch (m.type) {
      case 'workerregistered':
        worker_id = m.worker_id
        return
      case 'invocationresult':
        if (typeof m.invocation_id === 'string' && m.invocation_id.startsWith(`${tag}.barrier`)) barriers++
        return
      case 'error':
        errorFrames++
        if (!m.ref) codes.set(m.error.code, (codes.get(m.error.code) ?? 0) + 1)
        // Refusals of frames that name a type (a wrong 'type', an unknown one) carry a ref without an id.
        else if (m.ref.id === undefined || (m.error.code === 'unknown_message_type')) codes.set(m.error.code, (codes.get(m.error.code) ?? 0) + 1)
        else if (m.error.code === 'invalid_message' && /^'type' must be a string/.test(m.error.message)) codes.set(m.error.code, (codes.get(m.error.code) ?? 0) + 1)
        return
      // Be a worker: answer what the engine asks of this session.
      case 'invokefunction':
        if (typeof m.invocation_id === 'string') send({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: m.function_id, result: { served_by: tag } })
        return
      case 'registertrigger':
        send({ type: 'triggerregistrationresult', id: m.id, trigger_type: m.trigger_type, function_id: m.function_id })
        return
    }
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  await until(() => worker_id, 10_000, 'the greeting')

  return {
    get worker_id() {
      return worker_id
    },
    sent: () => sent,
    errorFrames: () => errorFrames,
    closed,
    async exchange(frames, answerWithinMs = 20_000) {
      const due = new Map<string, { want: number; frame: string }>()
      const mayAnswer = new Set<string>()
      const codesDue = new Map<string, number>()
      const codesBefore = new Map(codes)
      for (const raw of frames) {
        const frame = stampIds(raw, () => `${tag}.${++n}`)
        const e = expectationOf(frame)
        if (e.answer) {
          const d = due.get(e.answer)
          if (d) d.want++
          else due.set(e.answer, { want: 1, frame: describe(frame) })
        }
        if (e.mayAnswer) mayAnswer.add(e.mayAnswer)
        if (e.code) codesDue.set(e.code, (codesDue.get(e.code) ?? 0) + 1)
        if ('binary' in frame) socket.send(frame.binary, { binary: true })
        else socket.send(frame.text)
        sent++
      }
      const barriersBefore = barriers
      socket.send(JSON.stringify({ type: 'invokefunction', invocation_id: `${tag}.barrier${++n}`, function_id: 'engine::trigger-types::list' }))
      await until(() => barriers > barriersBefore || socket.readyState !== WebSocket.OPEN, 30_000, `the answer after a batch on ${tag}`)
      if (socket.readyState !== WebSocket.OPEN) throw new Error(`the engine closed hostile session ${tag} (${await closed})`)
      const broken: Broken = { unanswered: [], codes: [] }
      for (const [code, want] of codesDue) {
        const got = (codes.get(code) ?? 0) - (codesBefore.get(code) ?? 0)
        // invalid_message is also the refusal of malformed known types (with an id): only the floor is known.
        if (code === 'invalid_message' ? got < want : got !== want) broken.codes.push({ code, want, got })
      }
      for (const code of ['invalid_json', 'binary_not_supported', 'unknown_message_type']) {
        const got = (codes.get(code) ?? 0) - (codesBefore.get(code) ?? 0)
        if (got > 0 && !codesDue.has(code)) broken.codes.push({ code, want: 0, got })
      }
      const settled = () => [...due].every(([key, d]) => (answers.get(key) ?? 0) >= d.want)
      try {
        await until(settled, answerWithinMs, 'answers')
      } catch {
        /* reported below */
      }
      for (const [key, d] of due) {
        const got = answers.get(key) ?? 0
        if (got !== d.want) broken.unanswered.push({ key, got, want: d.want, frame: d.frame })
        answers.delete(key)
      }
      for (const key of mayAnswer) {
        const got = answers.get(key) ?? 0
        if (got > 1) broken.unanswered.push({ key, got, want: 1, frame: '(a fire-and-forget call answered more than once)' })
        answers.delete(key)
      }
      return broken
    },
    async end(how, maxPayload) {
      if (socket.readyState === WebSocket.OPEN) {
        if (how === 'close') socket.close(1000)
        // A text frame whose bytes are not UTF-8: the engine must close with 1007.
        else if (how === 'invalid-utf8') socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false })
        // A frame over the limit: the engine must close with 1009.
        else if (how === 'oversize') socket.send(Buffer.alloc(maxPayload + 1, 0x20), { binary: false })
        else (socket as unknown as { _socket: import('node:net').Socket })._socket.resetAndDestroy()
      }
      // The engine must close it: within 10 s, or the test fails saying so.
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hostile session ${tag} ended by '${how}' was not closed within 10 s`)), 10_000)))
      try {
        return await Promise.race([closed, late])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
