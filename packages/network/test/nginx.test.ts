import { afterAll, describe, expect, it } from 'vitest'
import { createNetwork, generateKey, type Network, type Stream, ws } from '../src/index.js'
import { drain, pseudoRandomChunks, readAll, sha256Tap, waitFor } from '../src/testing/index.js'
import { findOrInstallNginx, startNginx } from './nginx-fixture.js'

const nginx = await findOrInstallNginx()
const skip = 'skip' in nginx ? nginx.skip : undefined
if (skip !== undefined) console.warn(`nginx test skipped: ${skip}`)

/** Echoes a stream while hashing what passes, so both directions can be checked. */
function echoWithDigest(stream: Stream, digests: string[]): void {
  const tap = sha256Tap(stream.source)
  stream.sink(tap.source).then(
    () => digests.push(tap.digest()),
    () => {},
  )
}

describe('ws behind a real nginx reverse proxy', () => {
  const networks: Network[] = []
  afterAll(async () => {
    await Promise.all(networks.map(n => n.close()))
  })

  it.skipIf(skip !== undefined)(
    `a client dials through nginx (loopback, URL path proxied to a node) and moves 4 MiB both ways${skip === undefined ? '' : ` — skipped: ${skip}`}`,
    async () => {
      const bin = (nginx as { bin: string }).bin
      const server = createNetwork({ privateKey: await generateKey(), transports: [ws()] })
      const client = createNetwork({ privateKey: await generateKey(), transports: [ws()] })
      networks.push(server, client)
      const serverDigests: string[] = []
      server.handle(stream => echoWithDigest(stream, serverDigests))
      client.handle(stream => echoWithDigest(stream, []))
      const [upstream] = await server.listen('ws://127.0.0.1:0/pnet-upstream')
      const upstreamPort = upstream?.getComponents().find(c => c.name === 'tcp')?.value
      const proxy = await startNginx(bin, '/mesh', `http://127.0.0.1:${upstreamPort}/pnet-upstream`)
      try {
        const conn = await client.dial(`ws://127.0.0.1:${proxy.port}/mesh/p2p/${server.peerId.toString()}`)
        expect(conn.remotePeer.equals(server.peerId)).toBe(true)
        expect(conn.remoteAddr.toString()).toBe(`/ip4/127.0.0.1/tcp/${proxy.port}/ws/http-path/mesh`)

        // client → server → client, 4 MiB, checked by sha256 at both ends
        const stream = await conn.newStream()
        const sent = sha256Tap(pseudoRandomChunks(4 * 2 ** 20, 65536, 11))
        const [, back] = await Promise.all([stream.sink(sent.source), drain(stream)])
        expect(back.bytes).toBe(4 * 2 ** 20)
        const digest = sent.digest()
        expect(back.sha256).toBe(digest)
        await waitFor(() => serverDigests.length === 1, 'server-side digest')
        expect(serverDigests[0]).toBe(digest)

        // and a stream the server opens toward the client, over the same proxied connection
        await waitFor(() => server.connections().length === 1, 'inbound connection on the node')
        const inbound = server.connections()[0]!
        expect(inbound.remoteAddr.toString()).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws$/) // nginx's upstream socket
        const reverse = await inbound.newStream()
        const [, echoed] = await Promise.all([
          reverse.sink([new TextEncoder().encode('from the node')]),
          readAll(reverse),
        ])
        expect(new TextDecoder().decode(echoed)).toBe('from the node')

        await conn.close()
        // nginx logs the upgraded request (status 101) once the proxied connection ends
        await waitFor(() => /"GET \/mesh HTTP\/1\.1" 101 /.test(proxy.accessLog()), 'nginx access log line')
      } finally {
        await proxy.stop()
      }
    },
    300_000,
  )
})
