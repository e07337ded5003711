import { describe, expect, it } from 'vitest'
import {
  InvalidAddressError,
  parseAddress,
  parsePeerId,
  peerIdOfAddress,
  withoutPeerId,
  withPeerId,
} from '../src/index.js'

const ID = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

describe('addresses', () => {
  it.each([
    ['tcp://127.0.0.1:4001', '/ip4/127.0.0.1/tcp/4001'],
    ['tcp://[::1]:4001', '/ip6/::1/tcp/4001'],
    ['tcp://example.org:4001', '/dns/example.org/tcp/4001'],
    [`tcp://127.0.0.1:4001/p2p/${ID}`, `/ip4/127.0.0.1/tcp/4001/p2p/${ID}`],
    ['memory://hub-a', '/memory/hub-a'],
    ['quic://10.0.0.1:4001', '/ip4/10.0.0.1/udp/4001/quic-v1'],
    ['ws://127.0.0.1:8080', '/ip4/127.0.0.1/tcp/8080/ws'],
    ['wss://example.org', '/dns/example.org/tcp/443/tls/ws'],
    ['/ip4/1.2.3.4/tcp/5', '/ip4/1.2.3.4/tcp/5'],
  ])('%s → %s', (input, expected) => {
    expect(parseAddress(input).toString()).toBe(expected)
  })

  it.each([
    ['', 'expected a multiaddr or URL'],
    ['127.0.0.1:4001', 'expected a multiaddr (/ip4/…) or a URL'],
    ['tcp://127.0.0.1', 'tcp:// needs a port'],
    ['tcp://127.0.0.1:99999', 'invalid address "tcp://127.0.0.1:99999"'],
    ['/ip4/300.1.1.1/tcp/1', 'invalid address "/ip4/300.1.1.1/tcp/1"'],
    ['ftp://host:21', 'unknown scheme ftp://'],
    ['memory://', 'memory:// needs a name'],
    ['/ip4/1.2.3.4/tcp/5/p2p/nonsense', 'invalid address "/ip4/1.2.3.4/tcp/5/p2p/nonsense"'],
  ])('rejects %j naming it (%s)', (input, message) => {
    expect(() => parseAddress(input)).toThrow(InvalidAddressError)
    expect(() => parseAddress(input)).toThrow(message)
  })

  it('adds, reads and strips /p2p/', () => {
    const peer = parsePeerId(ID)
    const a = withPeerId(parseAddress('tcp://127.0.0.1:1'), peer)
    expect(a.toString()).toBe(`/ip4/127.0.0.1/tcp/1/p2p/${ID}`)
    expect(peerIdOfAddress(a)?.toString()).toBe(ID)
    expect(withoutPeerId(a).toString()).toBe('/ip4/127.0.0.1/tcp/1')
    expect(peerIdOfAddress(parseAddress('/memory/x'))).toBeUndefined()
  })
})
