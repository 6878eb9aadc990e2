/**
 * The relay of one data channel: frames (bytes or text messages) from its writer to its
 * reader, in order, with backpressure. Pure: its ends are interfaces that the channels
 * actor fills with sockets, and `provider:http` with a request or a response.
 *
 * At most `capacity` frames wait in the engine: queued (no reader yet) or handed to the
 * reader and not yet written out by it (its `done` not called). At that mark the writer is
 * paused; it resumes once the reader has caught up. A writer that ends lets the reader end
 * after the last frame; a reader that goes away stops the writer and drops what waits.
 */

export type Frame = { binary: true; data: Uint8Array } | { binary: false; data: string }

/** The end that takes frames: `done` once a frame is written out (its buffer may go). */
export interface RelayReader {
  deliver(frame: Frame, done: () => void): void
  /** The writer ended: `clean` when it closed normally, false when it broke off. */
  end(clean: boolean): void
}

/** The end that gives frames. */
export interface RelayWriter {
  pause(): void
  resume(): void
  /** The reader went away: stop writing. */
  stop(): void
}

export class Relay {
  private readonly queue: Frame[] = []
  private unconfirmed = 0
  private paused = false
  private reader?: RelayReader
  private writer?: RelayWriter
  private writerEnd?: { clean: boolean }
  private readerEnded = false
  private readerGone = false
  private finished = false
  /** Called when a writer is attached (an http response's writer opening tells the engine the function streams). */
  onWriter?: () => void
  /** Frames relayed, and their bytes (text counted as UTF-16 length): for the inspector and tests. */
  frames = 0
  bytes = 0

  /** `onDone` is called once, when both ends are done with the channel. */
  constructor(
    readonly capacity: number,
    private readonly onDone: () => void = () => {},
  ) {}

  get hasReader(): boolean {
    return this.reader !== undefined
  }
  get hasWriter(): boolean {
    return this.writer !== undefined
  }
  /** Frames waiting in the engine (queued or not yet written out by the reader). */
  get waiting(): number {
    return this.queue.length + this.unconfirmed
  }
  get isPaused(): boolean {
    return this.paused
  }
  get done(): boolean {
    return this.finished
  }

  attachWriter(writer: RelayWriter): void {
    this.writer = writer
    this.onWriter?.()
    if (this.readerGone) return writer.stop()
    if (this.paused) writer.pause()
  }

  attachReader(reader: RelayReader): void {
    this.reader = reader
    this.flush()
  }

  /** A frame from the writer. */
  push(frame: Frame): void {
    if (this.readerGone || this.writerEnd || this.finished) return
    this.frames++
    this.bytes += frame.binary ? frame.data.byteLength : frame.data.length
    this.queue.push(frame)
    this.flush()
    if (!this.paused && this.waiting >= this.capacity) {
      this.paused = true
      this.writer?.pause()
    }
  }

  /** The writer ended (closed, or broke off). */
  finish(clean: boolean): void {
    if (this.writerEnd || this.finished) return
    this.writerEnd = { clean }
    this.flush()
    this.settle()
  }

  /** The reader went away (closed early, or its client left). */
  readerClosed(): void {
    if (this.readerGone || this.finished) return
    this.readerGone = true
    this.queue.length = 0
    if (!this.writerEnd) this.writer?.stop()
    this.settle()
  }

  private flush(): void {
    const reader = this.reader
    if (!reader || this.readerGone) return
    while (this.queue.length > 0) {
      this.unconfirmed++
      reader.deliver(this.queue.shift()!, this.confirm)
    }
    if (this.writerEnd && !this.readerEnded) {
      this.readerEnded = true
      reader.end(this.writerEnd.clean)
    }
  }

  private readonly confirm = (): void => {
    this.unconfirmed--
    if (this.paused && this.waiting < this.capacity && !this.readerGone) {
      this.paused = false
      this.writer?.resume()
    }
  }

  /** Done when the writer has ended and the reader was told, or the reader is gone. */
  private settle(): void {
    if (this.finished) return
    if (this.readerGone || (this.writerEnd && this.readerEnded)) {
      this.finished = true
      this.onDone()
    }
  }

  /** Ends both ends at once (the channel is released): the reader as broken off, the writer stopped. */
  abort(): void {
    if (this.finished) return
    this.queue.length = 0
    if (!this.writerEnd) this.writer?.stop()
    if (this.reader && !this.readerEnded && !this.readerGone) {
      this.readerEnded = true
      this.reader.end(false)
    }
    this.finished = true
    this.onDone()
  }
}
