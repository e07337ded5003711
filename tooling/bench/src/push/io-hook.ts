/**
 * Preloaded into the `ops-agent push` process (`node --import io-hook.js …`) to count what the controller moved:
 * bytes written to and read from its TCP sockets — what the network layer's RawIO counts as a connection's
 * `stats.bytesOut`/`bytesIn`: Noise and yamux framing, AEAD tags and the multistream handshakes included, TCP/IP
 * headers not — and the file bytes it read. The ops-agent package does not export pushFile, so the benchmark runs the
 * CLI, as an operator does, and reads the counts from outside the node's metrics, at the socket. On exit the counts
 * go, as one JSON object ({@link IoCounts}), to the file named by PNET_BENCH_IO_OUT.
 *
 *   PNET_BENCH_IO_OUT=/tmp/io.json node --import ./io-hook.js ops-agent/dist/cli/main.js push …
 */
import { subscribe } from 'node:diagnostics_channel'
import fs from 'node:fs'
import { open } from 'node:fs/promises'
import type { Socket } from 'node:net'

export interface IoCounts {
  /** TCP sockets the process opened or accepted */
  sockets: number
  socketBytesOut: number
  socketBytesIn: number
  /** bytes returned by FileHandle.read and fs.read (the pushed file: hashing pass and chunk pass) */
  fileBytesRead: number
  /** /proc/self/io at exit: every read()/write() syscall byte, files and sockets alike (a cross-check) */
  rchar: number
  wchar: number
}

const sockets = new Set<Socket>()
const track = (msg: unknown): void => {
  const socket = (msg as { socket?: Socket }).socket
  if (socket !== undefined) sockets.add(socket)
}
subscribe('net.client.socket', track)
subscribe('net.server.socket', track)

let fileBytesRead = 0
// fs.promises FileHandle: the class is only reachable through an instance
const probe = await open(process.execPath, 'r')
const handleProto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<{ bytesRead: number }> }
await probe.close()
const handleRead = handleProto.read
handleProto.read = async function (this: unknown, ...args: unknown[]) {
  const r = await handleRead.apply(this, args)
  fileBytesRead += r.bytesRead
  return r
}
// fs.createReadStream reads through the fs module object's read()
const fsRead = fs.read as (...args: unknown[]) => void
;(fs as { read: unknown }).read = function (this: unknown, ...args: unknown[]) {
  const cb = args[args.length - 1]
  if (typeof cb === 'function') {
    args[args.length - 1] = (err: Error | null, bytesRead: number, ...rest: unknown[]) => {
      if (err === null) fileBytesRead += bytesRead
      cb(err, bytesRead, ...rest)
    }
  }
  fsRead.apply(this, args)
}

function procIo(): { rchar: number; wchar: number } {
  try {
    const text = fs.readFileSync('/proc/self/io', 'utf8')
    return {
      rchar: Number(/rchar:\s+(\d+)/.exec(text)?.[1] ?? 0),
      wchar: Number(/wchar:\s+(\d+)/.exec(text)?.[1] ?? 0),
    }
  } catch {
    return { rchar: 0, wchar: 0 }
  }
}

process.on('exit', () => {
  const out = process.env.PNET_BENCH_IO_OUT
  if (out === undefined) return
  let socketBytesOut = 0
  let socketBytesIn = 0
  // a destroyed socket keeps its final counts
  for (const s of sockets) {
    socketBytesOut += s.bytesWritten
    socketBytesIn += s.bytesRead
  }
  const counts: IoCounts = { sockets: sockets.size, socketBytesOut, socketBytesIn, fileBytesRead, ...procIo() }
  fs.writeFileSync(out, JSON.stringify(counts))
})
