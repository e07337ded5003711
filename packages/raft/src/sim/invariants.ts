/**
 * Raft's safety properties (Figure 3 of the paper), checked while a simulation runs:
 * - election safety: at most one leader per term;
 * - log matching: if two logs hold an entry with the same index and term, they are identical up to it;
 * - leader completeness: a leader's log holds every entry committed before its term;
 * - state machine safety: no two members apply different entries at the same index.
 */
import { MAX_VIOLATIONS } from '../limits.js'
import type { Entry } from '../types.js'

export interface InvariantState {
  leaders: Map<number, string>
  /** committed[i] is the entry some member applied at index i */
  committed: (Entry | undefined)[]
  violations: string[]
}

export function createInvariantState(): InvariantState {
  return { leaders: new Map(), committed: [], violations: [] }
}

function report(inv: InvariantState, s: string): void {
  if (inv.violations.length < MAX_VIOLATIONS) inv.violations.push(s)
}

export function sameEntry(a: Entry, b: Entry): boolean {
  if (a.term !== b.term || a.index !== b.index || a.data.length !== b.data.length) return false
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false
  const ca = a.conf
  const cb = b.conf
  return ca === cb || (ca !== undefined && cb !== undefined && ca.op === cb.op && ca.member === cb.member)
}

export function onLeader(inv: InvariantState, id: string, term: number, log: readonly Entry[]): void {
  const prev = inv.leaders.get(term)
  if (prev !== undefined && prev !== id) report(inv, `election safety: ${prev} and ${id} both led term ${term}`)
  inv.leaders.set(term, id)
  for (let i = 1; i < inv.committed.length; i++) {
    const c = inv.committed[i]
    if (c === undefined || c.term >= term) continue
    const mine = log[i - 1]
    if (mine === undefined || !sameEntry(mine, c)) {
      report(inv, `leader completeness: ${id} leads term ${term} without committed entry ${i} (term ${c.term})`)
      return
    }
  }
}

export function onApplied(inv: InvariantState, id: string, e: Entry): void {
  const c = inv.committed[e.index]
  if (c === undefined) inv.committed[e.index] = e
  else if (!sameEntry(c, e)) {
    report(inv, `state machine safety: ${id} applied term ${e.term} at ${e.index}, another member term ${c.term}`)
  }
}

export function checkLogMatching(inv: InvariantState, logs: { id: string; entries: readonly Entry[] }[]): void {
  for (let a = 0; a < logs.length; a++) {
    for (let b = a + 1; b < logs.length; b++) {
      const la = logs[a]!.entries
      const lb = logs[b]!.entries
      let i = Math.min(la.length, lb.length)
      while (i > 0 && la[i - 1]!.term !== lb[i - 1]!.term) i--
      for (let j = i; j > 0; j--) {
        if (!sameEntry(la[j - 1]!, lb[j - 1]!)) {
          report(inv, `log matching: ${logs[a]!.id} and ${logs[b]!.id} agree at ${i} but differ at ${j}`)
          break
        }
      }
    }
  }
}
