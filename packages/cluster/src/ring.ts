/**
 * A consistent hash ring with virtual nodes and weights.
 *
 * Each member gets `round(weight × vnodesPerWeight)` points on a 48-bit circle; point i of member m sits at the
 * first 6 bytes (big-endian) of SHA-256(`m` + 0x00 + `i` as decimal). A key sits at the first 6 bytes of
 * SHA-256(key); its owners are the members of the points met walking clockwise from it, each counted once. The
 * hash is fixed and specified so every member (and another implementation) computes the same owners.
 *
 * Adding a member only moves keys to it (the points of the others stay put), about 1/(N+1) of them when weights
 * are equal; removing one moves only its keys. A member's share is proportional to its weight, within ~1/√V
 * relative spread for V points (see `DEFAULT_VNODES_PER_WEIGHT`). Weight 0 keeps a member listed but owning
 * nothing (draining).
 *
 * @example
 * ```ts
 * import { createRing } from '@pnet/cluster'
 *
 * const ring = createRing({ members: [{ id: 'a' }, { id: 'b' }] })
 * ring.insert({ id: 'c', weight: 2 })
 * ring.find('user:42', 2)   // e.g. ['c', 'a']: two distinct owners, primary first
 * ring.remove('a')
 * ```
 */
import { createHash } from 'node:crypto'
import { InvalidClusterArgumentError } from './errors.js'
import { DEFAULT_VNODES_PER_WEIGHT, RING_LIMITS } from './limits.js'

export interface RingMember {
  id: string
  /** share relative to the others; default 1; 0 = owns nothing */
  weight?: number
}

export interface RingInit {
  members?: Iterable<RingMember>
  /** ring points per unit of weight (default {@link DEFAULT_VNODES_PER_WEIGHT}) */
  vnodesPerWeight?: number
}

export interface Ring {
  /** up to `n` distinct owners of `key`, primary first (fewer when the ring has fewer members with weight > 0) */
  find(key: string | Uint8Array, n?: number): string[]
  /** adds a member, or changes the weight of a present one */
  insert(member: RingMember): void
  /** removes a member; false when it was not there */
  remove(id: string): boolean
  has(id: string): boolean
  weight(id: string): number | undefined
  /** members and weights, sorted by ID */
  members(): RingMember[]
  readonly size: number
  /** points on the ring */
  readonly points: number
}

const enc = new TextEncoder()

/**
 * The 48-bit ring position of a key or point: the first 6 bytes of its SHA-256, big-endian.
 *
 * @example
 * ```ts
 * ringHash('user:42')   // an integer in [0, 2^48)
 * ```
 */
export function ringHash(data: string | Uint8Array): number {
  const d = createHash('sha256')
    .update(typeof data === 'string' ? enc.encode(data) : data)
    .digest()
  return d.readUIntBE(0, 6)
}

function checkWeight(member: RingMember): number {
  const w = member.weight ?? 1
  if (!Number.isFinite(w) || w < 0) {
    throw new InvalidClusterArgumentError('weight', String(w), `of ${member.id} must be a finite number ≥ 0`)
  }
  if (member.id === '' || enc.encode(member.id).byteLength > RING_LIMITS.maxMemberIdBytes) {
    throw new InvalidClusterArgumentError('id', member.id, `must be 1 to ${RING_LIMITS.maxMemberIdBytes} bytes`)
  }
  return w
}

/**
 * A consistent hash ring (see the module doc).
 *
 * @example
 * ```ts
 * const ring = createRing({ members: [{ id: 'a' }, { id: 'b', weight: 3 }] })
 * ring.find('some-key')   // ['b'] three times as often as ['a']
 * ```
 */
export function createRing(init: RingInit = {}): Ring {
  const perWeight = init.vnodesPerWeight ?? DEFAULT_VNODES_PER_WEIGHT
  if (!Number.isInteger(perWeight) || perWeight < 1) {
    throw new InvalidClusterArgumentError('vnodesPerWeight', String(perWeight), 'must be an integer ≥ 1')
  }
  const weights = new Map<string, number>()
  /** each member's point positions, computed once per (member, count) */
  const memberPoints = new Map<string, number[]>()
  let positions = new Float64Array(0)
  let owners: string[] = []
  let dirty = false

  const pointsOf = (id: string, w: number): number[] => {
    const count = Math.round(w * perWeight)
    let pts = memberPoints.get(id)
    if (pts === undefined || pts.length !== count) {
      pts = []
      for (let i = 0; i < count; i++) pts.push(ringHash(`${id}\u0000${i}`))
      memberPoints.set(id, pts)
    }
    return pts
  }

  const rebuild = (): void => {
    const all: { pos: number; id: string }[] = []
    for (const [id, w] of weights) for (const pos of pointsOf(id, w)) all.push({ pos, id })
    // equal positions (1 in 2^48 per pair) are ordered by member ID so every member builds the same ring
    all.sort((p, q) => p.pos - q.pos || (p.id < q.id ? -1 : p.id > q.id ? 1 : 0))
    positions = Float64Array.from(all, p => p.pos)
    owners = all.map(p => p.id)
    dirty = false
  }

  const totalPoints = (): number => {
    let t = 0
    for (const w of weights.values()) t += Math.round(w * perWeight)
    return t
  }

  const ring: Ring = {
    find(key, n = 1) {
      if (!Number.isInteger(n) || n < 1) throw new InvalidClusterArgumentError('n', String(n), 'must be an integer ≥ 1')
      if (dirty) rebuild()
      const len = positions.length
      if (len === 0) return []
      const h = ringHash(key)
      // first point at or after h
      let lo = 0
      let hi = len
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (positions[mid]! < h) lo = mid + 1
        else hi = mid
      }
      const out: string[] = []
      const seen = new Set<string>()
      for (let k = 0; k < len && out.length < n; k++) {
        const id = owners[(lo + k) % len]!
        if (!seen.has(id)) {
          seen.add(id)
          out.push(id)
        }
      }
      return out
    },
    insert(member) {
      const w = checkWeight(member)
      const before = weights.get(member.id)
      weights.set(member.id, w)
      if (totalPoints() > RING_LIMITS.maxPoints) {
        if (before === undefined) weights.delete(member.id)
        else weights.set(member.id, before)
        throw new InvalidClusterArgumentError('weight', String(w), `ring would pass ${RING_LIMITS.maxPoints} points`)
      }
      dirty = true
    },
    remove(id) {
      memberPoints.delete(id)
      const had = weights.delete(id)
      if (had) dirty = true
      return had
    },
    has: id => weights.has(id),
    weight: id => weights.get(id),
    members: () =>
      [...weights].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, weight]) => ({ id, weight })),
    get size() {
      return weights.size
    },
    get points() {
      if (dirty) rebuild()
      return positions.length
    },
  }
  for (const m of init.members ?? []) ring.insert(m)
  return ring
}
