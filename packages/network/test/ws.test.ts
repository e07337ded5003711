import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import net, { type AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import {
  createNetwork,
  DialError,
  generateKey,
  InvalidAddressError,
  type Limits,
  ListenError,
  type Network,
  parseAddress,
  WS_MAX_MESSAGE_BYTES,
  type WsInit,
  ws,
} from '../src/index.js'
import { readAll, waitFor } from '../src/testing/index.js'
import { selfSignedCert } from './ws-fixtures.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const ID = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

describe('ws addresses', () => {
  it.each([
    ['ws://127.0.0.1:8080/mesh', '/ip4/127.0.0.1/tcp/8080/ws/http-path/mesh', '/mesh'],
    ['ws://127.0.0.1:8080/a/b', '/ip4/127.0.0.1/tcp/8080/ws/http-path/a%2Fb', '/a/b'],
    ['ws://127.0.0.1:8080/a%20b/', '/ip4/127.0.0.1/tcp/8080/ws/http-path/a%20b%2F', '/a b/'],
    ['wss://example.org/x', '/dns/example.org/tcp/443/tls/ws/http-path/x', '/x'],
    [`ws://[::1]:80/m/p2p/${ID}`, `/ip6/::1/tcp/80/ws/http-path/m/p2p/${ID}`, '/m'],
  ])('%s → %s (path %s), and back', (url, expected, path) => {
    const ma = parseAddress(url)
    expect(ma.toString()).toBe(expected)
    expect(ma.getComponents().find(c => c.name === 'http-path')?.value).toBe(path)
    expect(parseAddress(ma.toString()).toString()).toBe(expected) // the string form parses to the same
  })

  it('rejects a query or fragment, which a multiaddr cannot carry', () => {
    expect(() => parseAddress('ws://127.0.0.1:80/x?token=1')).toThrow(InvalidAddressError)
    expect(() => parseAddress('ws://127.0.0.1:80/x#frag')).toThrow('has no multiaddr form')
  })
})

describe('ws transport', () => {
  const networks: Network[] = []
  const servers: http.Server[] = []
  afterEach(async () => {
    await Promise.all(networks.splice(0).map(n => n.close()))
    for (const s of servers.splice(0)) {
      s.closeAllConnections()
      await new Promise(r => s.close(r))
    }
  })

  async function node(init?: WsInit, limits?: Partial<Limits>): Promise<Network> {
    const n = createNetwork({ privateKey: await generateKey(), transports: [ws(init)], limits })
    n.handle(stream => {
      stream.sink(stream.source).catch(() => {})
    })
    networks.push(n)
    return n
  }

  async function echoOnce(client: Network, addr: string, text: string): Promise<string> {
    const stream = await (await client.dial(addr)).newStream()
    const [, back] = await Promise.all([stream.sink([enc.encode(text)]), readAll(stream)])
    return dec.decode(back)
  }

  it('listens on a URL path; other paths get 404, plain HTTP on the path gets 426', async () => {
    const server = await node()
    const [addr] = await server.listen('ws://127.0.0.1:0/pnet/v1')
    expect(addr?.toString()).toMatch(/\/tcp\/\d+\/ws\/http-path\/pnet%2Fv1\/p2p\/12D3Koo/)
    const client = await node()
    expect(await echoOnce(client, addr!.toString(), 'on the path')).toBe('on the path')
    const port = Number(addr?.getComponents().find(c => c.name === 'tcp')?.value)
    const wrong = client.dial(`ws://127.0.0.1:${port}/other/p2p/${server.peerId.toString()}`)
    await expect(wrong).rejects.toBeInstanceOf(DialError)
    await expect(wrong).rejects.toThrow('HTTP 404')
    const res = await fetch(`http://127.0.0.1:${port}/pnet/v1`)
    expect(res.status).toBe(426)
    expect(res.headers.get('upgrade')).toBe('websocket')
  })

  it('shares an existing http.Server with an HTTP API: a route and pnet on one port', async () => {
    const api = http.createServer((req, res) => {
      res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'text/plain' })
      res.end(req.url === '/health' ? 'healthy\n' : 'no such route\n')
    })
    servers.push(api)
    api.listen(0, '127.0.0.1')
    await once(api, 'listening')
    const { port } = api.address() as AddressInfo

    const server = await node({ server: api })
    const [addr] = await server.listen(`ws://127.0.0.1:${port}/pnet`)
    expect(addr?.toString()).toContain(`/tcp/${port}/ws/http-path/pnet/p2p/`)
    const client = await node()
    expect(await echoOnce(client, addr!.toString(), 'beside the API')).toBe('beside the API')

    const health = await fetch(`http://127.0.0.1:${port}/health`)
    expect(health.status).toBe(200)
    expect(await health.text()).toBe('healthy\n')
    expect((await fetch(`http://127.0.0.1:${port}/pnet`)).status).toBe(404) // the app answers plain HTTP

    // closing the network leaves the app's server running
    await server.close()
    expect(api.listening).toBe(true)
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
  })

  it('refuses to attach to a server that is not listening, or on another port, or of the other scheme', async () => {
    const idle = http.createServer()
    await expect((await node({ server: idle })).listen('ws://127.0.0.1:0/p')).rejects.toThrow('not listening')
    const api = http.createServer()
    servers.push(api)
    api.listen(0, '127.0.0.1')
    await once(api, 'listening')
    const { port } = api.address() as AddressInfo
    const attached = await node({ server: api })
    await expect(attached.listen(`ws://127.0.0.1:${port + 1}/p`)).rejects.toThrow(`listens on port ${port}`)
    await expect(attached.listen(`wss://127.0.0.1:${port}/p`)).rejects.toThrow('is plain http')
    await attached.listen(`ws://127.0.0.1:${port}/p`)
    await expect(attached.listen(`ws://127.0.0.1:${port}/p`)).rejects.toThrow('path /p is already taken')
  })

  it('wss: dials with a trusted CA, refuses an untrusted certificate, needs a cert to listen', async () => {
    const { cert, key } = selfSignedCert()
    await expect((await node()).listen('wss://127.0.0.1:0')).rejects.toBeInstanceOf(ListenError)
    await expect((await node()).listen('wss://127.0.0.1:0')).rejects.toThrow('needs a certificate: ws({ cert, key })')
    const server = await node({ cert, key })
    const [addr] = await server.listen('wss://127.0.0.1:0/secure')
    expect(addr?.toString()).toMatch(/\/tcp\/\d+\/tls\/ws\/http-path\/secure\/p2p\//)
    expect(await echoOnce(await node({ ca: cert }), addr!.toString(), 'tls')).toBe('tls')
    const untrusting = await node()
    await expect(untrusting.dial(addr!)).rejects.toThrow(/self[- ]signed certificate/)
  })

  it('attaches to an https.Server too (wss on a shared port)', async () => {
    const { cert, key } = selfSignedCert()
    const api = https.createServer({ cert, key }, (_req, res) => res.end('api'))
    servers.push(api)
    api.listen(0, '127.0.0.1')
    await once(api, 'listening')
    const { port } = api.address() as AddressInfo
    const server = await node({ server: api })
    const [addr] = await server.listen(`/ip4/127.0.0.1/tcp/${port}/tls/ws`)
    expect(await echoOnce(await node({ ca: cert }), addr!.toString(), 'shared tls')).toBe('shared tls')
  })

  it(`cuts off a peer that sends a WebSocket message over WS_MAX_MESSAGE_BYTES (${WS_MAX_MESSAGE_BYTES})`, async () => {
    const server = await node()
    const failures: Error[] = []
    const [addr] = await server.listen('ws://127.0.0.1:0')
    const port = Number(addr?.getComponents().find(c => c.name === 'tcp')?.value)
    // a raw WebSocket client, not a pnet node: it sends one oversized binary message
    const raw = new WebSocket(`ws://127.0.0.1:${port}/`)
    await once(raw, 'open')
    raw.on('error', e => failures.push(e))
    const closed = once(raw, 'close')
    raw.send(new Uint8Array(WS_MAX_MESSAGE_BYTES + 1))
    const [code] = (await closed) as [number]
    expect(code).toBe(1009) // "message too big"
    // a message of exactly the limit passes the WebSocket layer (and then fails the Noise handshake as garbage)
    const ok = new WebSocket(`ws://127.0.0.1:${port}/`)
    await once(ok, 'open')
    const okClosed = once(ok, 'close')
    ok.send(new Uint8Array(WS_MAX_MESSAGE_BYTES))
    const [okCode] = (await okClosed) as [number]
    expect(okCode).not.toBe(1009)
    expect(server.connections()).toHaveLength(0)
  })

  it('applies limits.maxConnections at the HTTP upgrade: the dial past it gets HTTP 503', async () => {
    const server = await node(undefined, { maxConnections: 1 })
    const [addr] = await server.listen('ws://127.0.0.1:0')
    await (await node()).dial(addr!)
    await waitFor(() => server.connections().length === 1, 'first connection')
    const second = (await node()).dial(addr!)
    await expect(second).rejects.toThrow('HTTP 503')
    expect(server.connections()).toHaveLength(1)
  })

  it('drops an HTTP upgrade request that does not finish within limits.handshakeTimeoutMs', async () => {
    const server = await node(undefined, { handshakeTimeoutMs: 500 })
    const [addr] = await server.listen('ws://127.0.0.1:0')
    const port = Number(addr?.getComponents().find(c => c.name === 'tcp')?.value)
    const slow = net.connect(port, '127.0.0.1')
    await once(slow, 'connect')
    slow.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n') // and never the rest
    slow.on('data', () => {})
    slow.on('error', () => {})
    const started = Date.now()
    await once(slow, 'close')
    const took = Date.now() - started
    expect(took).toBeGreaterThanOrEqual(400)
    expect(took).toBeLessThan(5_000) // the deadline plus the server's 1 s check interval, not Node's 60 s default
    // an honest client is not affected
    expect(await echoOnce(await node(), addr!.toString(), 'prompt')).toBe('prompt')
  })

  it('dials /dns4/localhost and IPv6 loopback', async () => {
    const server = await node()
    const [addr] = await server.listen('ws://127.0.0.1:0/d')
    const port = addr?.getComponents().find(c => c.name === 'tcp')?.value
    const client = await node()
    expect(await echoOnce(client, `/dns4/localhost/tcp/${port}/ws/http-path/d/p2p/${server.peerId}`, 'dns')).toBe('dns')
    const server6 = await node()
    const listened = await server6.listen('ws://[::1]:0/six').catch((e: Error) => e)
    if (listened instanceof Error) {
      expect(listened.message).toMatch(/EADDRNOTAVAIL|EAFNOSUPPORT/) // no IPv6 on this host: the only acceptable failure
      return
    }
    expect(listened[0]?.toString()).toMatch(/^\/ip6\/::1\/tcp\/\d+\/ws\/http-path\/six\//)
    expect(await echoOnce(client, listened[0]!.toString(), 'v6')).toBe('v6')
  })
})
