/**
 * The error convention (errorConvention in @pnet/network/testing) on every error class this package exports.
 */
import * as api from '../src/index.js'
import { errorConvention } from '../src/testing/index.js'

/** constructor arguments for each exported error class; a new class without an entry fails */
const samples: Record<string, unknown[]> = {
  NetworkError: ['something failed', 'ERR_DIAL_FAILED'],
  InvalidAddressError: ['tcp://nowhere', 'no port'],
  NoTransportError: ['/ip4/127.0.0.1/udp/1', ['tcp']],
  TransportUnavailableError: ['quic', 'module missing'],
  DialError: ['/ip4/127.0.0.1/tcp/1', 'connection refused'],
  ListenError: ['/ip4/127.0.0.1/tcp/1', 'address in use'],
  AbortError: ['dial'],
  UnexpectedPeerError: ['/ip4/127.0.0.1/tcp/1', '12D3KooA', '12D3KooB'],
  HandshakeTimeoutError: ['/ip4/127.0.0.1/tcp/1', 10_000],
  HandshakeError: ['/ip4/127.0.0.1/tcp/1', 'bad signature'],
  ProtocolViolationError: ['12D3KooA', 'oversized frame'],
  TooManyConnectionsError: ['/ip4/127.0.0.1/tcp/1', 1024],
  TooManyConnectionsPerPeerError: ['12D3KooA', 4],
  TooManyPendingHandshakesError: ['/ip4/127.0.0.1/tcp/1', 64],
  TooManyStreamsError: ['outbound', '12D3KooA', 1024],
  ConnectionClosedError: ['12D3KooA'],
  IdleTimeoutError: ['12D3KooA', 300_000],
  StreamResetError: ['12D3KooA', '7'],
  StreamAbortedError: ['12D3KooA', '7', 'aborted locally'],
  StreamStateError: ['7', 'sink can be called only once'],
  KeyFileError: ['/tmp/node.key', 'mode 0644 is readable by others'],
}

errorConvention('@pnet/network', api as Record<string, unknown>, samples, new URL('../README.md', import.meta.url))
