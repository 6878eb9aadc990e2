/**
 * Another Node process seen through Node's own inspector protocol: the process runs with
 * `--inspect=127.0.0.1:0`, this connects to the debugger URL it printed, forces full
 * garbage collections, reads how much heap is in use, and evaluates expressions on its
 * globals (is `Object.prototype` still clean?). Nothing in the engine is changed or
 * called: the runtime answers, so `signalbox serve` is measured exactly as it runs.
 */
import WebSocket from 'ws'

/** The heap after a full collection, from a heap snapshot: all of it, and what V8 keeps for itself. */
export interface HeapSplit {
  /** Bytes of every object in the heap. */
  total: number
  /**
   * Bytes of the objects of the program itself (objects, arrays, strings, closures, …):
   * the total without V8's own runtime data (compiled code and its metadata, feedback
   * vectors, hidden classes, internal lists), which grows as new code paths are compiled.
   */
  program: number
}

/** Node types of a V8 heap snapshot that are V8's own runtime data, not the program's objects. */
const V8_OWN = new Set(['code', 'hidden', 'object shape', 'synthetic'])

export interface InspectorProbe {
  /** Bytes of V8 heap in use after full collections. */
  usedHeapAfterGc(): Promise<number>
  /** A heap snapshot after full collections, summed (see HeapSplit). */
  heapSplit(): Promise<HeapSplit>
  /** The value of a JavaScript expression evaluated in the process's global scope. */
  evaluate(expression: string): Promise<unknown>
  close(): void
}

/** Finds the debugger URL in what the process wrote to stderr (`Debugger listening on ws://…`). */
export const debuggerUrl = (stderr: string): string | undefined => /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1]

export async function connectInspector(url: string): Promise<InspectorProbe> {
  const socket = new WebSocket(url, { perMessageDeflate: false })
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  let seq = 0
  const waiting = new Map<number, { resolve(v: any): void; reject(e: Error): void }>()
  let chunks: string[] = []
  socket.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString('utf8'))
    if (m.method === 'HeapProfiler.addHeapSnapshotChunk') return void chunks.push(m.params.chunk)
    const w = m.id !== undefined && waiting.get(m.id)
    if (!w) return
    waiting.delete(m.id)
    if (m.error) w.reject(new Error(`inspector: ${m.error.message}`))
    else w.resolve(m.result)
  })
  socket.on('close', () => {
    for (const w of waiting.values()) w.reject(new Error('inspector connection closed'))
    waiting.clear()
  })
  const send = (method: string, params: Record<string, unknown> = {}, ms = 60_000) =>
    new Promise<any>((resolve, reject) => {
      const id = ++seq
      const timer = setTimeout(() => (waiting.delete(id), reject(new Error(`inspector: ${method} took longer than ${ms} ms`))), ms)
      waiting.set(id, { resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)) })
      socket.send(JSON.stringify({ id, method, params }))
    })
  // Twice, with a pause between, so that what finalizers and weak callbacks released is gone too.
  const collect = async () => {
    await send('HeapProfiler.collectGarbage')
    await new Promise((r) => setTimeout(r, 100))
    await send('HeapProfiler.collectGarbage')
  }
  return {
    async usedHeapAfterGc() {
      await collect()
      const { usedSize } = await send('Runtime.getHeapUsage')
      return usedSize as number
    },
    async heapSplit() {
      await collect()
      chunks = []
      await send('HeapProfiler.takeHeapSnapshot', { reportProgress: false, captureNumericValue: false }, 120_000)
      const snap = JSON.parse(chunks.join(''))
      chunks = []
      const fields: string[] = snap.snapshot.meta.node_fields
      const types: string[] = snap.snapshot.meta.node_types[0]
      const [width, type, size] = [fields.length, fields.indexOf('type'), fields.indexOf('self_size')]
      let total = 0
      let own = 0
      for (let i = 0; i < snap.nodes.length; i += width) {
        total += snap.nodes[i + size]
        if (V8_OWN.has(types[snap.nodes[i + type]])) own += snap.nodes[i + size]
      }
      return { total, program: total - own }
    },
    async evaluate(expression) {
      const { result, exceptionDetails } = await send('Runtime.evaluate', { expression, returnByValue: true })
      if (exceptionDetails) throw new Error(`inspector: ${expression} threw ${exceptionDetails.text}`)
      return result.value
    },
    close: () => socket.close(),
  }
}
