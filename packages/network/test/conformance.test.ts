import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { createMemoryHub, memory, tcp } from '../src/index.js'
import { transportConformance } from '../src/testing/index.js'

transportConformance({
  name: 'tcp',
  transport: () => tcp(),
  listenAddr: () => 'tcp://127.0.0.1:0',
  async silentServer() {
    const sockets = new Set<net.Socket>()
    const server = net.createServer(s => sockets.add(s)) // accepts, never answers
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as net.AddressInfo
    return {
      addr: `tcp://127.0.0.1:${port}`,
      async close() {
        for (const s of sockets) s.destroy()
        await new Promise(r => server.close(r))
      },
    }
  },
})

const hub = createMemoryHub()
transportConformance({
  name: 'memory',
  transport: () => memory({ hub }),
  listenAddr: () => `/memory/${randomUUID()}`,
  async silentServer() {
    const name = randomUUID()
    hub.listeners.set(name, { peer: 'silent', accept: () => {} }) // takes the link, never upgrades it
    return {
      addr: `/memory/${name}`,
      async close() {
        hub.listeners.delete(name)
        for (const link of hub.links('silent')) link.cut()
      },
    }
  },
})

transportConformance({
  name: 'memory with 2 ms latency and a 200 MB/s cap',
  transport: () => memory({ hub, latencyMs: 2, bandwidthBytesPerSec: 200e6 }),
  listenAddr: () => `/memory/${randomUUID()}`,
  bigTransferBytes: 64 * 2 ** 20,
})
