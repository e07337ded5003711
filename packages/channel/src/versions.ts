/**
 * Channel versions: u16 numbers from 1. A caller offers one range, the callee picks the highest version it supports
 * inside it; a callee supports any set of versions, kept as sorted, merged ranges.
 */
import { MAX_VERSION, MIN_VERSION } from './limits.js'

export interface VersionRange {
  readonly min: number
  readonly max: number
}

/** What a callee supports: a version, a list of versions, a range, or a list of ranges. */
export type VersionSpec = number | VersionRange | ReadonlyArray<number | VersionRange>

/** What a caller offers: one version or one range. */
export type VersionOffer = number | VersionRange

function checkVersion(v: number, what: string): void {
  if (!Number.isInteger(v) || v < MIN_VERSION || v > MAX_VERSION) {
    throw new RangeError(`${what} must be an integer from ${MIN_VERSION} to ${MAX_VERSION}, got ${String(v)}`)
  }
}

/** A caller's offer as a range, validated. */
export function offerRange(offer: VersionOffer = 1): VersionRange {
  const range = typeof offer === 'number' ? { min: offer, max: offer } : { min: offer.min, max: offer.max }
  checkVersion(range.min, 'versions.min')
  checkVersion(range.max, 'versions.max')
  if (range.min > range.max) throw new RangeError(`versions.min (${range.min}) is above versions.max (${range.max})`)
  return range
}

/**
 * A callee's spec as sorted, merged, non-overlapping ranges.
 *
 * @example
 * ```ts
 * normalizeVersions([3, 1, 2, { min: 7, max: 9 }])   // [{ min: 1, max: 3 }, { min: 7, max: 9 }]
 * ```
 */
export function normalizeVersions(spec: VersionSpec = 1): VersionRange[] {
  const items: Array<number | VersionRange> = Array.isArray(spec) ? [...spec] : [spec as number | VersionRange]
  if (items.length === 0) throw new RangeError('versions must name at least one version')
  const ranges = items.map(item => offerRange(item)).sort((a, b) => a.min - b.min)
  const merged: VersionRange[] = []
  for (const r of ranges) {
    const last = merged[merged.length - 1]
    if (last !== undefined && r.min <= last.max + 1) {
      merged[merged.length - 1] = { min: last.min, max: Math.max(last.max, r.max) }
    } else {
      merged.push(r)
    }
  }
  return merged
}

/** The highest supported version inside `offer`, or undefined. */
export function chooseVersion(supported: readonly VersionRange[], offer: VersionRange): number | undefined {
  for (let i = supported.length - 1; i >= 0; i--) {
    const r = supported[i]!
    if (r.min > offer.max || r.max < offer.min) continue
    return Math.min(r.max, offer.max)
  }
  return undefined
}
