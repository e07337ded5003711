/**
 * Sequence numbers are 16-bit and compared modulo 2^16, as in Babel (RFC 8966 §3.2.1): `a` is newer than `b` when
 * `(a - b) mod 2^16` lies in `1 .. 2^15 - 1`. A destination restarting with a random seqno is therefore newer than
 * the one its old routes carry half of the time; the other half is repaired by seqno requests (see routing-table.ts).
 */

export const SEQNO_MODULUS = 0x10000

/** `a` strictly newer than `b`. */
export function seqnoNewer(a: number, b: number): boolean {
  const d = (a - b) & 0xffff
  return d !== 0 && d < 0x8000
}

/** `a` newer than or equal to `b`. */
export function seqnoAtLeast(a: number, b: number): boolean {
  return a === b || seqnoNewer(a, b)
}

export function seqnoAdd(a: number, n: number): number {
  return (a + n) & 0xffff
}
