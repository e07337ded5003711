/**
 * Channel benchmarks: what the channel layer adds on top of a raw @pnet/network stream, over tcp and memory.
 * Prints a table; not a test (numbers drift on shared machines, so each row is compared with the raw stream
 * measured in the same run). Run after building: `node bench/channel-bench.mjs [iterations]`.
 */
import { createHash } from 'node:crypto'
import {
  call,
  createChannelRegistry,
  openChannel,
  presharedKeyAuth,
  presharedKeyCredential,
  rpcHandler,
} from '@pnet/channel'
import { createMemoryHub, createNetwork, generateKey, memory, tcp } from '@pnet/network'

const ITER = Number(process.argv[2] ?? 1000)
const BULK = 64 * 2 ** 20
const KEY = 'benchmark cluster cookie, long enough'
const payload = new Uint8Array(64).fill(7)

async function setup(name, transport, listenAddr) {
  const server = createNetwork({ privateKey: await generateKey(), transports: [transport()] })
  const client = createNetwork({ privateKey: await generateKey(), transports: [transport()] })
  const registry = createChannelRegistry({ localPeer: server.peerId })
  registry.handle('/pnet/echo', async s => s.sink(s.source))
  registry.handle('/pnet/sink', async s => {
    const hash = createHash('sha256')
    for await (const c of s.source) hash.update(c)
    await s.sink([new TextEncoder().encode(hash.digest('hex'))])
  })
  registry.handle('/pnet/rpc', rpcHandler({ call: x => x }))
  registry.handle('/pnet/psk', rpcHandler({ call: x => x }), { auth: presharedKeyAuth({ key: KEY }) })
  let raw = false
  server.handle((stream, connection) => {
    // the raw baseline: streams whose first byte is 0xff are echoed without any channel handshake
    if (raw) void stream.sink(stream.source).catch(() => {})
    else registry.accept(stream, connection)
  })
  const [addr] = await server.listen(listenAddr)
  const connection = await client.dial(addr)
  return {
    name,
    connection,
    setRaw: v => {
      raw = v
    },
    close: async () => {
      await client.close()
      await server.close()
    },
  }
}

async function echoOnce(stream) {
  const reader = stream.source[Symbol.asyncIterator]()
  const writing = stream.sink([payload])
  let got = 0
  while (got < payload.byteLength) {
    const { value, done } = await reader.next()
    if (done) break
    got += value.byteLength
  }
  await writing
  await reader.return?.()
}

async function timeIt(n, fn) {
  for (let i = 0; i < Math.min(100, n); i++) await fn() // warm up
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await fn()
  return Number(process.hrtime.bigint() - start) / 1e3 / n // µs per op
}

async function throughput(open) {
  const stream = await open()
  const chunk = new Uint8Array(64 * 1024).fill(3)
  const start = process.hrtime.bigint()
  const writing = stream.sink(
    (function* () {
      for (let sent = 0; sent < BULK; sent += chunk.byteLength) yield chunk
    })(),
  )
  for await (const _ of stream.source) {
  }
  await writing
  return BULK / 2 ** 20 / (Number(process.hrtime.bigint() - start) / 1e9) // MiB/s
}

const hub = createMemoryHub()
const targets = [
  await setup('tcp', () => tcp(), 'tcp://127.0.0.1:0'),
  await setup('memory', () => memory({ hub }), '/memory/bench'),
]
const rows = []
for (const t of targets) {
  const c = t.connection
  t.setRaw(true)
  const rawOpenEcho = await timeIt(ITER, async () => echoOnce(await c.newStream()))
  const rawStream = await c.newStream()
  const rawEchoes = rawStream.source[Symbol.asyncIterator]()
  const pushQueue = []
  let wake
  void rawStream.sink(
    (async function* () {
      while (true) {
        if (pushQueue.length > 0) yield pushQueue.shift()
        else await new Promise(r => (wake = r))
      }
    })(),
  )
  const rawRtt = await timeIt(ITER, async () => {
    pushQueue.push(payload)
    wake?.()
    let got = 0
    while (got < payload.byteLength) got += (await rawEchoes.next()).value.byteLength
  })
  const rawBulk = await throughput(() => c.newStream())
  t.setRaw(false)
  const channelOpenEcho = await timeIt(ITER, async () =>
    echoOnce((await openChannel(await c.newStream(), '/pnet/echo')).stream),
  )
  const unary = await timeIt(ITER, () => call(c, '/pnet/rpc', 'x'))
  const psk = await timeIt(Math.ceil(ITER / 2), () =>
    call(c, '/pnet/psk', 'x', { credentials: [presharedKeyCredential({ key: KEY })] }),
  )
  const channelBulk = await throughput(async () => (await openChannel(await c.newStream(), '/pnet/echo')).stream)
  rows.push(
    [t.name, 'new stream + 64 B echo (raw, baseline)', rawOpenEcho, 1],
    [t.name, 'new stream + openChannel + 64 B echo', channelOpenEcho, channelOpenEcho / rawOpenEcho],
    [t.name, 'call() unary, fresh stream, JSON', unary, unary / rawOpenEcho],
    [t.name, 'call() with pre-shared key auth', psk, psk / rawOpenEcho],
    [t.name, '64 B echo on an open raw stream', rawRtt, rawRtt / rawOpenEcho],
    [t.name, `bulk echo ${BULK / 2 ** 20} MiB, raw stream (MiB/s)`, rawBulk, 1],
    [t.name, `bulk echo ${BULK / 2 ** 20} MiB, channel stream (MiB/s)`, channelBulk, channelBulk / rawBulk],
  )
  await t.close()
}
console.log(`@pnet/channel, ${ITER} iterations, node ${process.version}`)
console.log('| transport | measurement | µs/op or MiB/s | ratio to raw |')
console.log('|---|---|---|---|')
for (const [t, what, v, ratio] of rows) console.log(`| ${t} | ${what} | ${v.toFixed(1)} | ${ratio.toFixed(2)} |`)
