import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { transportConformance } from '@pnet/network/testing'
import { unix, unixAddress } from '../src/index.js'

const socketFile = (): string => join(tmpdir(), `pnet-${randomUUID().slice(0, 8)}.sock`)

transportConformance({
  name: 'unix (examples/custom-transport)',
  transport: () => unix(),
  listenAddr: () => unixAddress(socketFile()),
  bigTransferBytes: 64 * 2 ** 20,
  async silentServer() {
    // accepts on a socket file and never answers: the handshake never completes
    const path = socketFile()
    const sockets = new Set<net.Socket>()
    const server = net.createServer(s => sockets.add(s))
    server.listen(path)
    await once(server, 'listening')
    return {
      addr: unixAddress(path),
      async close() {
        for (const s of sockets) s.destroy()
        await new Promise(r => server.close(r))
      },
    }
  },
})
