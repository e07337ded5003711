/**
 * The seed's echo example, on pnet: node 1 serves channel "ftp" (which pnet names `/pnet/ftp`); node 2 connects to
 * it, opens a stream on "ftp", sends "hello" and gets "hello world". Runs on tcp, ws, quic and memory.
 *
 *   node dist/echo.js [tcp|ws|quic|memory …]
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { generateKey, isQuicAvailable, memory, quic, type TransportFactory, tcp, ws } from '@pnet/network'
import { createNode } from '@pnet/node'

export type TransportName = 'tcp' | 'ws' | 'quic' | 'memory'

const transports: Record<TransportName, { make: () => TransportFactory; listen: string }> = {
  tcp: { make: () => tcp(), listen: 'tcp://127.0.0.1:0' },
  ws: { make: () => ws(), listen: 'ws://127.0.0.1:0' },
  quic: { make: () => quic(), listen: 'quic://127.0.0.1:0' },
  memory: { make: () => memory(), listen: `memory://echo-${process.pid}` },
}

/**
 * Runs the echo once over `name`; resolves with what node 2 got back.
 *
 * @example
 * ```ts
 * console.log(await echo('tcp'))   // hello world
 * ```
 */
export async function echo(name: TransportName): Promise<string> {
  const t = transports[name]
  const node1 = await createNode({ key: await generateKey(), transports: [t.make()], listen: [t.listen] })
  node1.handle('ftp', async stream => {
    const chunks: Uint8Array[] = []
    for await (const chunk of stream.source) chunks.push(chunk)
    await stream.sink([Buffer.concat([...chunks, Buffer.from(' world')])])
  })
  await node1.start()
  const node2 = await createNode({ key: await generateKey(), transports: [t.make()] })
  await node2.start()
  try {
    const peer = await node2.connect(node1.addrs[0]!)
    const { stream } = await node2.openStream(peer, 'ftp')
    await stream.sink([Buffer.from('hello')])
    const reply: Uint8Array[] = []
    for await (const chunk of stream.source) reply.push(chunk)
    return Buffer.concat(reply).toString()
  } finally {
    await node2.stop()
    await node1.stop()
  }
}

function isMain(): boolean {
  try {
    return (
      process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
    )
  } catch {
    return false
  }
}

if (isMain()) {
  const asked = process.argv.slice(2) as TransportName[]
  const names: TransportName[] =
    asked.length > 0 ? asked : ['tcp', 'ws', 'memory', ...((await isQuicAvailable()) ? (['quic'] as const) : [])]
  for (const name of names) console.log(`${name.padEnd(6)} ${await echo(name)}`)
}
