import { once } from 'node:events'
import net from 'node:net'
import { ws } from '../src/index.js'
import { transportConformance } from '../src/testing/index.js'
import { selfSignedCert } from './ws-fixtures.js'

/** Accepts TCP connections and never answers: the HTTP upgrade never completes. */
async function silentServer(scheme: 'ws' | 'wss'): Promise<{ addr: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer(s => sockets.add(s))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  return {
    addr: `${scheme}://127.0.0.1:${port}/pnet`,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise(r => server.close(r))
    },
  }
}

transportConformance({
  name: 'ws',
  transport: () => ws(),
  listenAddr: () => 'ws://127.0.0.1:0/pnet',
  bigTransferBytes: 64 * 2 ** 20,
  silentServer: () => silentServer('ws'),
})

const { cert, key } = selfSignedCert()
transportConformance({
  name: 'wss (TLS)',
  transport: () => ws({ cert, key, ca: cert }),
  listenAddr: () => '/ip4/127.0.0.1/tcp/0/tls/ws',
  bigTransferBytes: 32 * 2 ** 20,
  silentServer: () => silentServer('wss'),
})
