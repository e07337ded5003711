/**
 * Length-prefixed messages on a stream: it-length-prefixed framing (unsigned varint length, then the bytes) with the
 * size limit checked on the length prefix, before any of the body is buffered, and a codec on top.
 *
 * @example
 * ```ts
 * const chat = messages(ch.stream, { codec: jsonCodec<{ text: string }>(), maxMessageSize: 64 * 1024 })
 * await chat.write({ text: 'hi' })
 * for await (const msg of chat) console.log(msg.text)
 * ```
 */
import type { AbortOptions, Stream } from '@pnet/network'
import { StreamResetError } from '@pnet/network'
import { type LengthDecoderFunction, decode as lpDecode, encode as lpEncode } from 'it-length-prefixed'
import type { Uint8ArrayList } from 'uint8arraylist'
import { bytesCodec, type Codec } from './codec.js'
import { ChannelClosedError, ChannelError, ChannelProtocolError, MessageTooLargeError, messageOf } from './errors.js'
import { FrameTooLargeError, raceSignal, StreamWriter } from './io.js'
import { DEFAULT_MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES_CAP } from './limits.js'
import { readUvarint, WireError } from './wire.js'

/**
 * A length decoder for it-length-prefixed that accepts only minimal varints of at most 8 bytes and refuses a length
 * over `max` as soon as the prefix is complete (the library's own decoder miscounts non-minimal varints).
 *
 * @example
 * ```ts
 * for await (const frame of lp.decode(stream.source, { lengthDecoder: strictLengthDecoder(65536) })) handle(frame)
 * ```
 */
export function strictLengthDecoder(max: number): LengthDecoderFunction {
  const decoder = ((data: Uint8ArrayList): number => {
    const r = readUvarint(data, 0)
    // RangeError is how it-length-prefixed learns that the prefix is not complete yet
    if (r === undefined) throw new RangeError('length prefix incomplete')
    if (r.value > max) throw new FrameTooLargeError(r.value, max)
    decoder.bytes = r.bytes
    return r.value
  }) as LengthDecoderFunction
  decoder.bytes = 0
  return decoder
}

export interface MessagesOptions<T> {
  /** default bytesCodec */
  codec?: Codec<T>
  /** the largest message read (default 1 MiB); a bigger one throws MessageTooLargeError before it is buffered */
  maxMessageSize?: number
  /** the largest message the remote reads (e.g. `ch.remoteMaxMessageSize`); bigger writes throw; 0 = 64 MiB */
  remoteMaxMessageSize?: number
  /** channel name for errors (default the stream's `channel` label) */
  channel?: string
}

export interface Messages<T> extends AsyncIterable<T> {
  readonly stream: Stream
  /** The next message, or undefined when the remote closed its write side. */
  read(options?: AbortOptions): Promise<T | undefined>
  /** Writes one message; resolves when the stream has taken it. */
  write(message: T, options?: AbortOptions): Promise<void>
  /** Closes our write side (the remote's read ends). */
  end(): Promise<void>
}

/**
 * Reads and writes whole messages on a stream (a channel's, or any pnet Stream). Read errors are typed:
 * MessageTooLargeError, ChannelProtocolError (malformed frame or message, stream ended mid-message),
 * ChannelClosedError (stream reset). After a read error the reader is done; reset the stream if the peer misbehaved.
 *
 * @example
 * ```ts
 * const m = messages(stream, { codec: jsonCodec(), maxMessageSize: ctx.maxMessageSize,
 *   remoteMaxMessageSize: ctx.remoteMaxMessageSize })
 * const request = await m.read()
 * await m.write({ ok: true }); await m.end()
 * ```
 */
export function messages<T = Uint8Array>(stream: Stream, options: MessagesOptions<T> = {}): Messages<T> {
  const codec = (options.codec ?? bytesCodec) as Codec<T>
  const readLimit = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_BYTES
  const writeLimit =
    options.remoteMaxMessageSize === undefined || options.remoteMaxMessageSize === 0
      ? MAX_MESSAGE_BYTES_CAP
      : options.remoteMaxMessageSize
  const channel = (): string => options.channel ?? stream.labels.channel ?? '(stream)'
  const peer = stream.remotePeer.toString()
  let frames: AsyncGenerator<Uint8ArrayList> | undefined
  let failed: Error | undefined
  let writer: StreamWriter | undefined
  let pending: Promise<T | undefined> | undefined

  const mapError = (err: unknown): Error => {
    if (err instanceof ChannelError) return err
    if (err instanceof FrameTooLargeError)
      return new MessageTooLargeError(channel(), peer, err.size, err.limit, 'receive')
    if (err instanceof WireError) return new ChannelProtocolError(channel(), peer, err.message, { cause: err })
    const code = (err as { code?: unknown }).code
    if (code === 'ERR_UNEXPECTED_EOF') {
      return new ChannelProtocolError(channel(), peer, 'stream ended in the middle of a message', { cause: err })
    }
    if (err instanceof StreamResetError)
      return new ChannelClosedError(channel(), peer, 'stream reset by the remote', { cause: err })
    return new ChannelClosedError(channel(), peer, `stream failed: ${messageOf(err)}`, { cause: err })
  }

  const next = async (): Promise<T | undefined> => {
    if (failed !== undefined) throw failed
    frames ??= lpDecode(stream.source, {
      maxDataLength: readLimit,
      lengthDecoder: strictLengthDecoder(readLimit),
    }) as AsyncGenerator<Uint8ArrayList>
    let result: IteratorResult<Uint8ArrayList>
    try {
      result = await frames.next()
    } catch (err) {
      failed = mapError(err)
      throw failed
    }
    if (result.done === true) return undefined
    try {
      return codec.decode(result.value.subarray())
    } catch (err) {
      failed = new ChannelProtocolError(channel(), peer, `malformed ${codec.name} message: ${messageOf(err)}`, {
        cause: err,
      })
      throw failed
    }
  }

  const read = (opts?: AbortOptions): Promise<T | undefined> => {
    // one read at a time; a read abandoned through its signal is picked up by the next
    const p = pending ?? next()
    pending = p
    p.then(
      () => {
        if (pending === p) pending = undefined
      },
      () => {
        if (pending === p) pending = undefined
      },
    )
    return raceSignal(p, opts?.signal)
  }

  return {
    stream,
    read,
    async write(message, opts) {
      const bytes = codec.encode(message)
      if (bytes.byteLength > writeLimit) {
        throw new MessageTooLargeError(channel(), peer, bytes.byteLength, writeLimit, 'send')
      }
      writer ??= new StreamWriter(stream)
      await raceSignal(writer.write(lpEncode.single(bytes)), opts?.signal)
    },
    async end() {
      if (writer === undefined) await stream.closeWrite()
      else await writer.end()
    },
    async *[Symbol.asyncIterator]() {
      while (true) {
        const m = await read()
        if (m === undefined) return
        yield m
      }
    },
  }
}
