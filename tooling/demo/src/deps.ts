/** The demo's imports in one place. */
export { type Connection, createNetwork, generateKey, type Network, tcp } from '@pnet/network'

/** Reads an async iterable of chunks into one buffer. */
export async function readAllBytes(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const c of source) chunks.push(c)
  return Buffer.concat(chunks)
}
