import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createNetwork,
  DialError,
  generateKey,
  ListenError,
  memory,
  type Network,
  NoTransportError,
  resolveLimits,
  tcp,
} from '../src/index.js'

const networks: Network[] = []
afterEach(async () => {
  await Promise.all(networks.splice(0).map(n => n.close()))
})

async function make(): Promise<Network> {
  const n = createNetwork({ privateKey: await generateKey(), transports: [tcp(), memory()] })
  networks.push(n)
  return n
}

describe('network', () => {
  it('names the address and the configured transports when none handles it', async () => {
    const n = await make()
    await expect(n.dial('quic://127.0.0.1:4001')).rejects.toThrow(NoTransportError)
    await expect(n.dial('quic://127.0.0.1:4001')).rejects.toThrow(
      'no transport handles /ip4/127.0.0.1/udp/4001/quic-v1 (configured: tcp, memory)',
    )
  })

  it('reports a refused dial with the address', async () => {
    const n = await make()
    const probe = net.createServer()
    await new Promise<void>(r => probe.listen(0, '127.0.0.1', r))
    const { port } = probe.address() as net.AddressInfo
    await new Promise(r => probe.close(r)) // now nothing listens there
    const err = await n.dial(`tcp://127.0.0.1:${port}`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DialError)
    expect((err as Error).message).toContain(`dial /ip4/127.0.0.1/tcp/${port} failed`)
    expect((err as Error).message).toContain('ECONNREFUSED')
  })

  it('reports a port in use with the address', async () => {
    const a = await make()
    const b = await make()
    const [addr] = await a.listen('tcp://127.0.0.1:0')
    const port = addr!.toString().split('/')[4]
    await expect(b.listen(`tcp://127.0.0.1:${port}`)).rejects.toThrow(ListenError)
    await expect(b.listen(`tcp://127.0.0.1:${port}`)).rejects.toThrow(`listen on /ip4/127.0.0.1/tcp/${port} failed`)
    await expect(b.listen('/memory/taken-1')).resolves.toHaveLength(1)
    await expect(a.listen('/memory/taken-1')).rejects.toThrow('address already in use')
  })

  it('lists its addresses with /p2p/ and emits connect/disconnect', async () => {
    const a = await make()
    const b = await make()
    await a.listen('tcp://127.0.0.1:0')
    await a.listen('/memory/addrs-1')
    expect(a.addrs.map(String)).toEqual([
      expect.stringMatching(new RegExp(`^/ip4/127.0.0.1/tcp/\\d+/p2p/${a.peerId}$`)),
      `/memory/addrs-1/p2p/${a.peerId}`,
    ])
    const events: string[] = []
    a.on('connection', c => events.push(`connect ${c.transport}`))
    a.on('disconnect', c => events.push(`disconnect ${c.transport}`))
    const conn = await b.dial(a.addrs[1]!)
    await new Promise(r => setTimeout(r, 50))
    await conn.close()
    await new Promise(r => setTimeout(r, 50))
    expect(events).toEqual(['connect memory', 'disconnect memory'])
  })

  it('rejects nonsense limits naming the field', () => {
    expect(() => resolveLimits({ maxConnections: 0 })).toThrow('limits.maxConnections must be >= 1, got 0')
    expect(() => resolveLimits({ idleTimeoutMs: -1 })).toThrow('limits.idleTimeoutMs must be a number >= 0, got -1')
  })

  it('refuses to dial or listen once closed', async () => {
    const n = await make()
    await n.close()
    await expect(n.dial('tcp://127.0.0.1:1')).rejects.toThrow('network is closed')
  })
})
