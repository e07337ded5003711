/**
 * js-libp2p's analog of pnet's relayed streams, for comparison with relay-bench.ts: three js-libp2p 3.x nodes in
 * this process (A, relay R, B), Noise + yamux on every link. B reserves a slot on R (Circuit Relay v2) and A reaches
 * B through R at `<R addr>/p2p/<R id>/p2p-circuit/p2p/<B id>` (on memory `/p2p/<R id>/p2p-circuit/p2p/<B id>`, see
 * below); js-libp2p then runs Noise + yamux end to end over the relayed stream, like pnet's end-to-end Noise.
 *
 * The measurement has relay-bench.ts's shape: one stream of 64 KiB writes to a sink that answers with the 8-byte
 * big-endian byte count (4 MiB warm-up first), then 64-byte round trips over an echo stream, median reported.
 *
 * Order: A first dials B directly and measures that connection (`links: 1`), closes it, then dials B through R and
 * measures the relayed connection (`links: 2`). The close matters: while A has an unlimited direct connection to B,
 * js-libp2p's dialer hands that one back for the circuit address instead of opening a relayed connection.
 *
 * R's reservations carry no limits (`applyDefaultLimit: false`). With the defaults (128 KiB of data, 2 minutes) the
 * relayed connection is "limited": streams only open on it with `runOnLimitedConnection`, and the relay resets it
 * after 128 KiB, so no throughput could be measured. The relayed connection is checked to be unlimited, so no
 * protocol here needs `runOnLimitedConnection`.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { type Connection, FaultTolerance, type Stream } from '@libp2p/interface'
import { memory } from '@libp2p/memory'
import { tcp } from '@libp2p/tcp'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { libp2pDuplex } from '../streams/impls.js'

export interface Libp2pRelayResult {
  /** 1: A→B direct; 2: A→R→B through the circuit relay */
  links: 1 | 2
  mbps: number
  rttUs: number
}

export interface Libp2pRelayOptions {
  transport: 'memory' | 'tcp'
  /** MiB per measured throughput run */
  mib: number
  /** 64-byte round trips per connection */
  rtts: number
}

const SINK_PROTOCOL = '/pnet-bench/sink/1.0.0'
const ECHO_PROTOCOL = '/pnet-bench/echo/1.0.0'
const CHUNK = 64 * 1024
const WARM_UP = 4 * 1024 * 1024

async function serveSink(stream: Stream): Promise<void> {
  let bytes = 0
  for await (const c of stream) bytes += c.byteLength
  const answer = new Uint8Array(8)
  new DataView(answer.buffer).setBigUint64(0, BigInt(bytes))
  await libp2pDuplex(stream).sink([answer])
}

async function serveEcho(stream: Stream): Promise<void> {
  const d = libp2pDuplex(stream)
  await d.sink(d.source)
}

async function serveBenchProtocols(node: Libp2p): Promise<void> {
  const serve = (run: (s: Stream) => Promise<void>) => (stream: Stream) => {
    void run(stream).catch((err: unknown) =>
      stream.abort(err instanceof Error ? err : new Error(`bench server failed: ${String(err)}`)),
    )
  }
  await node.handle(SINK_PROTOCOL, serve(serveSink))
  await node.handle(ECHO_PROTOCOL, serve(serveEcho))
}

/** One stream of `bytes` in 64 KiB writes to the sink; checks its count; returns MB/s. */
async function throughput(conn: Connection, bytes: number): Promise<number> {
  const stream = libp2pDuplex(await conn.newStream(SINK_PROTOCOL))
  const chunk = new Uint8Array(CHUNK).fill(0x5a)
  const started = performance.now()
  const answer: Uint8Array[] = []
  // read alongside the writes, so a stream error rejects here rather than going unhandled
  await Promise.all([
    stream.sink(
      (function* () {
        for (let sent = 0; sent < bytes; sent += CHUNK) yield chunk
      })(),
    ),
    (async () => {
      for await (const c of stream.source) answer.push(c)
    })(),
  ])
  const got = answer.length === 0 ? -1 : Number(Buffer.concat(answer).readBigUInt64BE(0))
  if (got !== bytes) throw new Error(`sink counted ${got} of ${bytes} bytes`)
  return bytes / 1e6 / ((performance.now() - started) / 1000)
}

/** `count` round trips of 64 bytes over one echo stream; returns the median in µs. */
async function roundTrip(conn: Connection, count: number): Promise<number> {
  const stream = await conn.newStream(ECHO_PROTOCOL)
  const ping = new Uint8Array(64).fill(1)
  const it = libp2pDuplex(stream).source[Symbol.asyncIterator]()
  const samples: number[] = []
  for (let i = 0; i < count; i++) {
    const t = performance.now()
    if (!stream.send(ping)) await stream.onDrain()
    for (let got = 0; got < ping.byteLength; ) {
      const next = await it.next()
      if (next.done === true) throw new Error(`echo stream ended after ${i} round trips`)
      got += next.value.byteLength
    }
    samples.push((performance.now() - t) * 1000)
  }
  await stream.close()
  await it.return?.(undefined)
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN
}

async function measure(conn: Connection, opts: Libp2pRelayOptions): Promise<{ mbps: number; rttUs: number }> {
  await throughput(conn, WARM_UP)
  const mbps = await throughput(conn, opts.mib * 1024 * 1024)
  const rttUs = await roundTrip(conn, opts.rtts)
  return { mbps, rttUs }
}

function listenAddr(transport: Libp2pRelayOptions['transport']): string {
  return transport === 'tcp'
    ? '/ip4/127.0.0.1/tcp/0'
    : `/memory/pnet-libp2p-relay-${process.pid}-${Math.random().toString(36).slice(2)}`
}

/** The settings every node shares: the transport plus circuit relay, Noise, yamux, identify (the relay transport needs it). */
function baseConfig(transport: Libp2pRelayOptions['transport']) {
  return {
    transports: [transport === 'tcp' ? tcp() : memory(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // loopback and memory addresses are what this benchmark dials
    connectionGater: { denyDialMultiaddr: () => false },
  }
}

const isCircuit = (ma: Multiaddr): boolean => ma.toString().includes('/p2p-circuit')

/**
 * Starts A, a Circuit Relay v2 server R and B in this process on `transport`, and measures A→B directly
 * (`links: 1`) and A→R→B over the relay (`links: 2`): throughput of one stream of `mib` MiB in 64 KiB writes after a
 * 4 MiB warm-up, and the median of `rtts` 64-byte round trips. All three nodes are stopped, also on failure.
 *
 * @example
 * const [direct, relayed] = await measureLibp2pRelay({ transport: 'memory', mib: 64, rtts: 300 })
 * console.log(`relayed: ${relayed.mbps.toFixed(1)} MB/s (${((relayed.mbps / direct.mbps) * 100).toFixed(0)}%)`)
 */
export async function measureLibp2pRelay(opts: Libp2pRelayOptions): Promise<Libp2pRelayResult[]> {
  const nodes: Libp2p[] = []
  try {
    const relay = await createLibp2p({
      ...baseConfig(opts.transport),
      addresses: { listen: [listenAddr(opts.transport)] },
      services: {
        identify: identify(),
        // no default limits: the relayed connection must carry the whole run, at full speed
        relay: circuitRelayServer({ reservations: { applyDefaultLimit: false } }),
      },
    })
    nodes.push(relay)
    const relayAddr = relay.getMultiaddrs().find(ma => !isCircuit(ma))
    if (relayAddr === undefined) throw new Error('the relay has no listen address')
    if (!relayAddr.toString().endsWith(`/p2p/${relay.peerId.toString()}`)) {
      throw new Error(`the relay's address ${relayAddr} does not end with its peer id`)
    }

    // the relay as circuit addresses name it: js-libp2p's circuit matchers accept `<ip/tcp addr>/p2p/<R id>` but not
    // a `/memory/…` prefix, so on memory the relay is named by its id alone and its address seeded into peer stores
    const relayName = opts.transport === 'tcp' ? relayAddr.toString() : `/p2p/${relay.peerId.toString()}`

    // B listens directly and on the relay: listening on `<relay>/p2p-circuit` makes the reservation during start.
    // On memory that listen reports failure although the reservation is made: the circuit listener then hands the
    // relay's `/memory/…/p2p-circuit` address to the address manager, which throws on a non-IP address. The
    // reservation (checked on R below) and the inbound side of the relay transport are unaffected, so on memory a
    // failed listen is tolerated rather than fatal.
    const b = await createLibp2p({
      ...baseConfig(opts.transport),
      addresses: { listen: [listenAddr(opts.transport), `${relayName}/p2p-circuit`] },
      services: { identify: identify() },
      transportManager: {
        faultTolerance: opts.transport === 'memory' ? FaultTolerance.NO_FATAL : FaultTolerance.FATAL_ALL,
      },
      start: false,
    })
    nodes.push(b)
    await b.peerStore.merge(relay.peerId, { multiaddrs: [relayAddr] })
    await b.start()
    await serveBenchProtocols(b)
    const reservation = relay.services.relay.reservations.get(b.peerId)
    if (reservation === undefined) throw new Error('B holds no reservation on the relay')
    if (reservation.limit !== undefined) throw new Error('the relay limited B’s reservation')

    const a = await createLibp2p({
      ...baseConfig(opts.transport),
      addresses: { listen: [] },
      services: { identify: identify() },
    })
    nodes.push(a)
    await a.peerStore.merge(relay.peerId, { multiaddrs: [relayAddr] })

    const results: Libp2pRelayResult[] = []
    const bDirect = b.getMultiaddrs().find(ma => !isCircuit(ma))
    if (bDirect === undefined) throw new Error('B has no direct listen address')
    const direct = await a.dial(bDirect)
    if (!direct.direct || isCircuit(direct.remoteAddr)) throw new Error(`not a direct connection: ${direct.remoteAddr}`)
    results.push({ links: 1, ...(await measure(direct, opts)) })
    // with a direct connection open, dialing the circuit address would hand back the direct one
    await direct.close()

    const circuitAddr = multiaddr(`${relayName}/p2p-circuit/p2p/${b.peerId.toString()}`)
    const relayed = await a.dial(circuitAddr)
    if (relayed.direct || !isCircuit(relayed.remoteAddr)) {
      throw new Error(`not a relayed connection: ${relayed.remoteAddr}`)
    }
    if (relayed.limits !== undefined) throw new Error('the relayed connection is limited')
    results.push({ links: 2, ...(await measure(relayed, opts)) })
    return results
  } finally {
    await Promise.allSettled(nodes.reverse().map(n => n.stop()))
  }
}
