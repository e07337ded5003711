/**
 * A seeded PRNG and the input generator: random bytes, and valid encodings with random damage (bit flips, byte
 * sets, inserts, deletes, truncation, duplication, and varint-sized numbers spliced in where lengths live).
 */
import { MAX_INPUT_BYTES } from './limits.js'

/** sfc32 (Chris Doty-Humphrey's small fast counting PRNG): 32-bit state words, full-period counter, seedable. */
export class Rng {
  #a = 0x9e3779b9
  #b = 0x243f6a88
  #c = 0xb7e15162
  #d: number

  constructor(seed: number) {
    this.#d = seed >>> 0
    for (let i = 0; i < 15; i++) this.u32()
  }

  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0
    this.#d = (this.#d + 1) | 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) | 0
    this.#c = (this.#c << 21) | (this.#c >>> 11)
    this.#c = (this.#c + t) | 0
    return t >>> 0
  }

  /** an integer in [0, n) */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 255
    return out
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
}

/** Interesting numbers for length and count fields: limits, off-by-ones, huge values. */
const EDGE_VARINTS = [0, 1, 127, 128, 255, 256, 1023, 1024, 65_535, 65_536, 2 ** 31 - 1, 2 ** 32, 2 ** 53 - 1]

function varint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

/** One to four random mutations of `base`. */
export function mutate(rng: Rng, base: Uint8Array): Uint8Array {
  let b = Array.from(base)
  const count = 1 + rng.int(4)
  for (let i = 0; i < count; i++) {
    const at = b.length === 0 ? 0 : rng.int(b.length)
    switch (rng.int(8)) {
      case 0:
        if (b.length > 0) b[at] = b[at]! ^ (1 << rng.int(8))
        break
      case 1:
        if (b.length > 0) b[at] = rng.pick([0, 0x7f, 0x80, 0xff, rng.int(256)])
        break
      case 2:
        b.splice(at, 0, ...rng.bytes(1 + rng.int(8)))
        break
      case 3:
        b.splice(at, 1 + rng.int(8))
        break
      case 4:
        b = b.slice(0, at)
        break
      case 5: {
        const n = 1 + rng.int(16)
        b.splice(at, 0, ...b.slice(at, at + n))
        break
      }
      case 6:
        // a length or count replaced by an edge value
        b.splice(at, 1 + rng.int(2), ...varint(rng.pick(EDGE_VARINTS)))
        break
      default:
        // a byte run repeated: long varints, runs of 0xff
        b.splice(at, 0, ...new Array<number>(1 + rng.int(12)).fill(rng.pick([0x80, 0xff, 0x00])))
    }
  }
  return Uint8Array.from(b.slice(0, MAX_INPUT_BYTES))
}

/** The next input: mostly mutated seeds, otherwise random bytes of random length (short ones more often). */
export function nextInput(rng: Rng, seeds: readonly Uint8Array[], mutatedShare: number): Uint8Array {
  if (seeds.length > 0 && rng.chance(mutatedShare)) return mutate(rng, rng.pick(seeds))
  const len = rng.chance(0.7) ? rng.int(64) : rng.int(MAX_INPUT_BYTES)
  return rng.bytes(len)
}

/** Splits `input` into 1–4 random pieces (decoders that take a byte stream must not care where it is cut). */
export function split(rng: Rng, input: Uint8Array): Uint8Array[] {
  const pieces: Uint8Array[] = []
  let at = 0
  const cuts = rng.int(4)
  for (let i = 0; i < cuts && at < input.byteLength; i++) {
    const n = 1 + rng.int(input.byteLength - at)
    pieces.push(input.subarray(at, at + n))
    at += n
  }
  if (at < input.byteLength || pieces.length === 0) pieces.push(input.subarray(at))
  return pieces
}
