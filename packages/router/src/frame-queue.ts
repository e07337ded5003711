/**
 * An outgoing queue of byte frames for a stream's sink: pushes never wait, the sink pulls at the transport's pace
 * (backpressure), frames queued in the same event-loop turn (or while a write was under way) leave in one write, and the queued byte count is known so a reader that
 * stalls can be detected instead of buffering without end.
 */
export class FrameQueue {
  #frames: Uint8Array[] = []
  #bytes = 0
  #ended = false
  #error: Error | undefined
  #wake: (() => void) | undefined
  #drainWaiters: (() => void)[] = []
  /** a chunk was handed to the sink and it has not asked for the next one yet */
  #writing = false

  /** bytes queued and not yet taken by the sink */
  get bytes(): number {
    return this.#bytes
  }

  push(frame: Uint8Array): void {
    if (this.#ended) return
    this.#frames.push(frame)
    this.#bytes += frame.byteLength
    this.#notify()
  }

  /** Ends the source after what is queued (or at once, with `err`). */
  end(err?: Error): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = err
    if (err !== undefined) {
      this.#frames = []
      this.#bytes = 0
      this.#release()
    }
    this.#notify()
  }

  /** resolves once everything queued so far has been taken by the sink (or the queue failed) */
  drained(): Promise<void> {
    if ((this.#frames.length === 0 && !this.#writing) || this.#error !== undefined) return Promise.resolve()
    return new Promise(resolve => this.#drainWaiters.push(resolve))
  }

  #release(): void {
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const w of waiters) w()
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async *source(): AsyncGenerator<Uint8Array> {
    while (true) {
      if (this.#frames.length > 0) {
        const frames = this.#frames
        this.#frames = []
        const out = frames.length === 1 ? (frames[0] as Uint8Array) : join(frames)
        this.#bytes -= out.byteLength
        this.#writing = true
        try {
          yield out
        } finally {
          this.#writing = false
        }
        // the sink asked for more: what was queued has been written
        if (this.#frames.length === 0) this.#release()
        continue
      }
      if (this.#error !== undefined) throw this.#error
      if (this.#ended) {
        this.#release()
        return
      }
      await new Promise<void>(resolve => {
        this.#wake = resolve
      })
      // let the rest of this turn's frames join the first: one write, one transport frame, one encryption
      await new Promise(resolve => setImmediate(resolve))
    }
  }
}

function join(frames: Uint8Array[]): Uint8Array {
  let size = 0
  for (const f of frames) size += f.byteLength
  const out = new Uint8Array(size)
  let at = 0
  for (const f of frames) {
    out.set(f, at)
    at += f.byteLength
  }
  return out
}
