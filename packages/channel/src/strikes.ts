/**
 * Misbehaviour scores per peer, remembered across connections. Each strike adds its weight to the peer's score and
 * the score leaks away at a steady rate (a leaky bucket): an occasional mistake is forgotten, a peer that keeps
 * wasting our streams crosses the limit and is cut off, and if it reconnects at once it starts where it left off.
 * Bounded in size: past `maxPeers` the peer charged least recently is forgotten.
 */

export interface StrikeLedgerInit {
  /** score a peer loses per second */
  leakPerSecond: number
  /** peers remembered at most */
  maxPeers: number
  /** highest score kept: how long a reformed peer stays suspect is at most `cap / leakPerSecond` seconds */
  cap: number
  /** clock in ms (tests) */
  now?: () => number
}

interface Entry {
  score: number
  at: number
}

export class StrikeLedger {
  readonly #init: StrikeLedgerInit
  readonly #now: () => number
  readonly #entries = new Map<string, Entry>()

  constructor(init: StrikeLedgerInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
  }

  /** peers remembered now */
  get size(): number {
    return this.#entries.size
  }

  /** The peer's score now, after leaking. */
  score(peer: string): number {
    const e = this.#entries.get(peer)
    if (e === undefined) return 0
    this.#leak(e, this.#now())
    return e.score
  }

  /**
   * Adds `weight` to the peer's score and returns the new score.
   *
   * @example
   * ```ts
   * const ledger = new StrikeLedger({ leakPerSecond: 1, maxPeers: 4096, cap: 64 })
   * if (ledger.charge(peer, 1) >= 32) connection.abort(new Error('too many strikes'))
   * ```
   */
  charge(peer: string, weight: number): number {
    const now = this.#now()
    let e = this.#entries.get(peer)
    if (e !== undefined) {
      this.#leak(e, now)
      // re-inserted, so the map's order stays "least recently charged first"
      this.#entries.delete(peer)
    } else {
      if (this.#entries.size >= this.#init.maxPeers) {
        const oldest = this.#entries.keys().next().value
        if (oldest !== undefined) this.#entries.delete(oldest)
      }
      e = { score: 0, at: now }
    }
    e.score = Math.min(this.#init.cap, e.score + weight)
    this.#entries.set(peer, e)
    return e.score
  }

  /** Whole strikes leak, so strikes in quick succession add up exactly. */
  #leak(e: Entry, now: number): void {
    const msPerStrike = 1000 / this.#init.leakPerSecond
    const steps = Math.floor((now - e.at) / msPerStrike)
    if (steps <= 0) return
    e.score = Math.max(0, e.score - steps)
    e.at = e.score === 0 ? now : e.at + steps * msPerStrike
  }
}
