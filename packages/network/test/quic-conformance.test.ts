import dgram from 'node:dgram'
import { once } from 'node:events'
import { quic } from '../src/index.js'
import { transportConformance } from '../src/testing/index.js'

transportConformance({
  name: 'quic',
  transport: () => quic(),
  listenAddr: () => 'quic://127.0.0.1:0',
  bigTransferBytes: 64 * 2 ** 20,
  // a dial to a closed UDP port gets no refusal (QUIC ignores ICMP): it fails at the handshake deadline
  limits: { handshakeTimeoutMs: 3_000 },
  async silentServer() {
    // a UDP port that takes every datagram and answers none: the QUIC handshake never completes
    const socket = dgram.createSocket('udp4')
    socket.on('message', () => {})
    socket.bind(0, '127.0.0.1')
    await once(socket, 'listening')
    return {
      addr: `quic://127.0.0.1:${socket.address().port}`,
      async close() {
        await new Promise<void>(resolve => socket.close(() => resolve()))
      },
    }
  },
})
