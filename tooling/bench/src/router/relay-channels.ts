/** The relay benchmark's channels: a sink that answers with the byte count, and an echo. */
import type { ChannelRegistry } from '@pnet/channel'

export const SINK_CHANNEL = '/pnet/bench/sink'
export const ECHO_CHANNEL = '/pnet/bench/echo'

export function serveBenchChannels(channels: ChannelRegistry): void {
  channels.handle(SINK_CHANNEL, async stream => {
    let bytes = 0
    for await (const chunk of stream.source) bytes += chunk.byteLength
    const answer = new Uint8Array(8)
    new DataView(answer.buffer).setBigUint64(0, BigInt(bytes))
    await stream.sink([answer])
  })
  channels.handle(ECHO_CHANNEL, async stream => {
    await stream.sink(stream.source)
  })
}
