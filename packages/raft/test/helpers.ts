import { expect } from 'vitest'
import { createRaftCore, type RaftCore, type RaftCoreInit } from '../src/index.js'
import type { DurableState, Entry, Message, ReadState } from '../src/types.js'

/** A synchronous network of cores: every Ready is persisted, checked against the contract, sent and applied. */
export class Net {
  cores = new Map<string, RaftCore>()
  durable = new Map<string, DurableState>()
  applied = new Map<string, Entry[]>()
  reads = new Map<string, ReadState[]>()
  blocked = new Set<string>()
  /** every message sent, in order */
  sent: Message[] = []
  private queue: Message[] = []

  constructor(
    public ids: string[],
    readonly init: Partial<RaftCoreInit> = {},
  ) {
    for (const id of ids) this.start(id)
  }

  start(id: string, durable?: DurableState): RaftCore {
    const core = createRaftCore({ id, voters: this.ids, random: () => 0, ...this.init, durable })
    this.cores.set(id, core)
    this.durable.set(
      id,
      durable === undefined
        ? { hardState: { term: 0, vote: '', commit: 0 }, entries: [] }
        : { hardState: { ...durable.hardState }, entries: durable.entries.slice() },
    )
    this.applied.set(id, [])
    this.reads.set(id, [])
    return core
  }

  core(id: string): RaftCore {
    return this.cores.get(id)!
  }

  isolate(id: string): void {
    for (const o of this.ids) if (o !== id) this.blocked.add(`${id}>${o}`).add(`${o}>${id}`)
  }

  heal(): void {
    this.blocked.clear()
  }

  /** process Readys and deliver messages until quiet */
  drain(): void {
    for (let rounds = 0; rounds < 10_000; rounds++) {
      for (const [id, core] of this.cores) {
        while (core.hasReady()) {
          const rd = core.ready()
          const d = this.durable.get(id)!
          if (rd.hardState !== undefined) d.hardState = { ...rd.hardState }
          if (rd.entries.length > 0) {
            d.entries.length = rd.entries[0]!.index - 1
            d.entries.push(...rd.entries)
          }
          for (const m of rd.messages) {
            // persistence before send: what a message promises is already durable
            if (m.type === 'AppResp' && !m.reject) expect(m.index).toBeLessThanOrEqual(d.entries.length)
            if (m.type === 'VoteResp' && !m.reject) expect(d.hardState.vote).toBe(m.to)
            // a pre-vote is sent at term + 1 and answered at the asker's term, without either being durable
            if (m.type !== 'PreVote' && m.type !== 'PreVoteResp') expect(m.term).toBeLessThanOrEqual(d.hardState.term)
            this.sent.push(m)
            this.queue.push(m)
          }
          for (const e of rd.committed) {
            expect(e.index).toBeLessThanOrEqual(d.entries.length)
            this.applied.get(id)!.push(e)
          }
          this.reads.get(id)!.push(...rd.readStates)
          core.advance(rd)
        }
      }
      if (this.queue.length === 0) return
      const batch = this.queue
      this.queue = []
      for (const m of batch) {
        if (this.blocked.has(`${m.from}>${m.to}`)) continue
        this.cores.get(m.to)?.step(m)
      }
    }
    throw new Error('network did not settle')
  }

  tick(id: string, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.core(id).tick()
      this.drain()
    }
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.cores.keys()) this.core(id).tick()
      this.drain()
    }
  }

  elect(id: string): void {
    this.core(id).campaign()
    this.drain()
    expect(this.core(id).status().role).toBe('leader')
  }

  propose(id: string, text: string): number {
    const index = this.core(id).propose(new TextEncoder().encode(text))
    this.drain()
    return index
  }

  appliedText(id: string): string[] {
    return this.applied
      .get(id)!
      .filter(e => e.data.length > 0)
      .map(e => new TextDecoder().decode(e.data))
  }
}
