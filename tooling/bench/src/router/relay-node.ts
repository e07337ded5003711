/**
 * One node of the relay benchmark, in its own process: tcp on loopback, a router, and the two bench channels.
 * Prints `ADDR <multiaddr>` once listening (and linked to the previous node, when given one), and `CPU <µs>` (its
 * CPU time so far, user + system) on each SIGUSR2.
 *
 *   node relay-node.js [previous-node-multiaddr]
 */
import { createChannelRegistry } from '@pnet/channel'
import { createNetwork, generateKey, tcp } from '@pnet/network'
import { createRouter } from '@pnet/router'
import { serveBenchChannels } from './relay-channels.js'

const previous = process.argv[2]
const network = createNetwork({ privateKey: await generateKey(), transports: [tcp()], limits: { idleTimeoutMs: 0 } })
const channels = createChannelRegistry({ localPeer: network.peerId })
network.handle(channels.accept)
serveBenchChannels(channels)
const router = createRouter({ network, channels })
process.on('SIGUSR2', () => {
  const { user, system } = process.cpuUsage()
  process.stdout.write(`CPU ${user + system}\n`)
})
const [addr] = await network.listen('tcp://127.0.0.1:0')
if (previous !== undefined) await network.dial(previous)
process.stdout.write(`ADDR ${addr?.toString()}\n`)
process.on('SIGTERM', () => {
  void router.stop().finally(() => network.close().finally(() => process.exit(0)))
})
