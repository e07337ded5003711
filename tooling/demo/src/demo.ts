/**
 * `npm run demo`: three nodes on loopback, encrypted streams between them, then everything torn down.
 */
import { type Connection, createNetwork, generateKey, type Network, readAllBytes, tcp } from './deps.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

async function main(): Promise<void> {
  const hub = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
  // the hub answers every stream with what it got, upper-cased and signed with its peer ID
  hub.handle((stream, conn) => {
    void (async () => {
      const text = dec.decode(await readAllBytes(stream.source))
      await stream.sink([
        enc.encode(
          `${text.toUpperCase()} (read by ${short(hub.peerId.toString())} from ${short(conn.remotePeer.toString())})`,
        ),
      ])
    })().catch(err => console.error('hub stream failed:', err))
  })
  const [addr] = await hub.listen('tcp://127.0.0.1:0')
  console.log(`hub      ${hub.peerId}`)
  console.log(`         listening ${addr}`)

  const clients: Network[] = []
  for (const name of ['alice', 'bob']) {
    const net = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
    clients.push(net)
    const started = performance.now()
    const conn: Connection = await net.dial(addr!)
    const ms = (performance.now() - started).toFixed(1)
    console.log(`${name.padEnd(8)} ${net.peerId}`)
    console.log(
      `         dialed the hub in ${ms} ms: ${conn.transport} + ${conn.encryption} + ${conn.multiplexer}, hub's peer ID verified`,
    )
    const streams = await Promise.all(
      [1, 2, 3].map(async i => {
        const stream = await conn.newStream()
        await stream.sink([enc.encode(`hello #${i} from ${name}`)])
        return dec.decode(await readAllBytes(stream.source))
      }),
    )
    for (const reply of streams) console.log(`         ← ${reply}`)
    const { bytesIn, bytesOut } = conn.stats
    console.log(
      `         3 streams on one connection; ${bytesOut} bytes out, ${bytesIn} bytes in on the wire (encrypted)`,
    )
  }

  await Promise.all(clients.map(c => c.close()))
  await hub.close()
  console.log('all nodes stopped')
}

function short(id: string): string {
  return `…${id.slice(-6)}`
}

main().then(
  () => process.exit(0),
  err => {
    console.error('demo failed:', err)
    process.exit(1)
  },
)

export type { Network }
