/** A binary heap of timed callbacks; equal times run in insertion order, so runs are deterministic. */
interface Timed {
  time: number
  seq: number
  run: () => void
}

export class EventQueue {
  private heap: Timed[] = []
  private seq = 0
  now = 0

  at(time: number, run: () => void): void {
    const item = { time: Math.max(time, this.now), seq: this.seq++, run }
    const h = this.heap
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (less(h[p]!, item)) break
      h[i] = h[p]!
      i = p
    }
    h[i] = item
  }

  after(delay: number, run: () => void): void {
    this.at(this.now + delay, run)
  }

  /** run events up to and including `until`; returns the number run */
  runUntil(until: number): number {
    let n = 0
    while (this.heap.length > 0 && this.heap[0]!.time <= until) {
      const item = this.pop()
      this.now = item.time
      item.run()
      n++
    }
    this.now = Math.max(this.now, until)
    return n
  }

  private pop(): Timed {
    const h = this.heap
    const top = h[0]!
    const last = h.pop()!
    const n = h.length
    if (n === 0) return top
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      let m = -1
      let best = last
      if (l < n && less(h[l]!, best)) {
        m = l
        best = h[l]!
      }
      if (l + 1 < n && less(h[l + 1]!, best)) {
        m = l + 1
        best = h[l + 1]!
      }
      if (m < 0) break
      h[i] = best
      i = m
    }
    h[i] = last
    return top
  }
}

function less(a: Timed, b: Timed): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}
