/**
 * Request/response on channels, GenServer style: `call` (one request, one reply), `cast` (one-way), `callStream`
 * (one request, a stream of replies). One stream per request: opening it costs no round trip of its own, the request
 * rides with the handshake (early data), and cancelling is resetting the stream, which fires the handler's signal.
 *
 * Frames (each length-prefixed like every message): a kind byte, then the body.
 *   caller → callee: CALL 0x01 | CAST 0x02 | STREAM 0x03, body = the encoded request
 *   callee → caller: MESSAGE 0x11 (body = encoded reply) … END 0x12 (streams only) | ERROR 0x13 (name, message, code)
 *
 * @example
 * ```ts
 * registry.handle('/pnet/math', rpcHandler<{ a: number; b: number }, number>({ call: ({ a, b }) => a + b }))
 * const sum = await call<number>(connection, '/pnet/math', { a: 2, b: 3 })            // 5
 * ```
 */
import type { AbortOptions, PeerId, Stream } from '@pnet/network'
import { bytesCodec, type Codec, jsonCodec } from './codec.js'
import { within } from './deadline.js'
import {
  ChannelAbortedError,
  ChannelClosedError,
  type ChannelError,
  ChannelProtocolError,
  MessageTooLargeError,
  messageOf,
  RemoteError,
  toError,
  UnsupportedRequestError,
} from './errors.js'
import { messages } from './framing.js'
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  HANDLER_CLOSE_TIMEOUT_MS,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_ERROR_NAME_BYTES,
  MAX_MESSAGE_BYTES_CAP,
} from './limits.js'
import { channelId } from './multistream.js'
import { type OpenChannelOptions, type OpenedChannel, openChannel } from './open.js'
import type { ChannelContext, ChannelHandler } from './registry.js'
import { lengthPrefixed, truncateUtf8, WireError, WireReader, WireWriter } from './wire.js'

export const RpcKind = {
  CALL: 0x01,
  CAST: 0x02,
  STREAM: 0x03,
  MESSAGE: 0x11,
  END: 0x12,
  ERROR: 0x13,
} as const

/** Something that opens streams to one peer: a Connection, or the router's handle on a distant peer. */
export interface StreamOpener {
  newStream(options?: AbortOptions): Promise<Stream>
  /** our own peer ID (a Connection has it); psk needs it */
  readonly localPeer?: PeerId
}

export interface RpcOptions extends Omit<OpenChannelOptions, 'earlyData' | 'header'> {
  /** request and reply codec (default jsonCodec()) */
  codec?: Codec<unknown>
}

function frame(kind: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(1 + body.byteLength)
  out[0] = kind
  out.set(body, 1)
  return out
}

/** An ERROR frame for `err`, its message (then code) cut so the frame fits `limit` bytes where that is possible. */
function errorFrame(err: unknown, limit = MAX_MESSAGE_BYTES_CAP): Uint8Array {
  const e = toError(err)
  const raw = (e as Error & { code?: unknown }).code
  const name = truncateUtf8(e.name || 'Error', MAX_ERROR_NAME_BYTES)
  let code = truncateUtf8(typeof raw === 'string' ? raw : '', MAX_ERROR_NAME_BYTES)
  let message = truncateUtf8(e.message, MAX_ERROR_MESSAGE_BYTES)
  const build = (): Uint8Array =>
    frame(RpcKind.ERROR, new WireWriter().string(name).string(message).string(code).finish())
  let out = build()
  if (out.byteLength > limit) {
    message = truncateUtf8(message, Math.max(0, message.length - (out.byteLength - limit) - 2))
    out = build()
  }
  if (out.byteLength > limit) {
    code = ''
    message = ''
    out = build()
  }
  return out
}

/** What goes on the wire for our own limit and protocol errors: the RemoteError already names channel and peer. */
function forWire(err: unknown): unknown {
  if (err instanceof MessageTooLargeError) {
    const what =
      err.direction === 'send'
        ? `reply of ${err.size} bytes is over the caller's limit of ${err.limit}`
        : `request of ${err.size} bytes is over the limit of ${err.limit}`
    return Object.assign(new Error(what), { name: 'MessageTooLargeError', code: err.code })
  }
  if (err instanceof UnsupportedRequestError) {
    return Object.assign(new Error(`channel ${err.channel} does not take ${err.kind}`), {
      name: err.name,
      code: err.code,
    })
  }
  if (err instanceof ChannelProtocolError) {
    return Object.assign(new Error(err.reason), { name: 'ChannelProtocolError', code: err.code })
  }
  return err
}

/** Decodes an ERROR body into a RemoteError (WireError if malformed). */
export function decodeRemoteError(body: Uint8Array, channel: string, peer: string): RemoteError {
  const r = new WireReader(body)
  const name = r.string('error name', MAX_ERROR_NAME_BYTES)
  const message = r.string('error message', MAX_ERROR_MESSAGE_BYTES)
  const code = r.string('error code', MAX_ERROR_NAME_BYTES)
  r.end('ERROR')
  return new RemoteError(channel, peer, name, message, code === '' ? undefined : code)
}

interface Exchange {
  opened: OpenedChannel
  read(): Promise<Uint8Array | undefined>
  /** closes gracefully (done) or resets (cancelled) */
  finish(cancelled: boolean): void
}

async function start(
  target: StreamOpener,
  channel: string,
  kind: number,
  request: unknown,
  options: RpcOptions,
): Promise<Exchange> {
  const codec = options.codec ?? jsonCodec()
  const payload = frame(kind, codec.encode(request))
  const limit = MAX_MESSAGE_BYTES_CAP
  if (payload.byteLength > limit) throw new MessageTooLargeError(channel, '', payload.byteLength, limit, 'send')
  const signal = options.signal
  // a function, so TypeScript does not narrow `aborted` to false for the rest of the function
  const aborted = (): boolean => signal?.aborted === true
  if (aborted()) throw new ChannelAbortedError(channel, '', { cause: signal?.reason })
  let stream: Stream
  try {
    stream = await target.newStream({ signal })
  } catch (err) {
    if (aborted()) throw new ChannelAbortedError(channel, '', { cause: signal?.reason })
    throw err
  }
  const peer = stream.remotePeer.toString()
  const opened = await openChannel(stream, channel, {
    ...options,
    localPeer: options.localPeer ?? target.localPeer,
    earlyData: lengthPrefixed(payload),
  })
  const replies = messages(opened.stream, { codec: bytesCodec, maxMessageSize: opened.maxMessageSize, channel })
  const onAbort = (): void => opened.stream.abort(new ChannelAbortedError(channel, peer, { cause: signal?.reason }))
  signal?.addEventListener('abort', onAbort, { once: true })
  return {
    opened,
    async read() {
      try {
        return await replies.read()
      } catch (err) {
        if (signal?.aborted === true) throw new ChannelAbortedError(channel, peer, { cause: signal.reason })
        throw err
      }
    },
    finish(cancelled) {
      signal?.removeEventListener('abort', onAbort)
      if (cancelled) opened.stream.abort(new ChannelAbortedError(channel, peer, { cause: 'cancelled by the caller' }))
      else
        within(HANDLER_CLOSE_TIMEOUT_MS, s => opened.stream.close({ signal: s })).catch(() =>
          opened.stream.abort(new Error('close timed out')),
        )
    },
  }
}

function unexpected(kind: number | undefined, channel: string, peer: string): ChannelProtocolError {
  const what = kind === undefined ? 'an empty frame' : `frame kind 0x${kind.toString(16).padStart(2, '0')}`
  return new ChannelProtocolError(channel, peer, `unexpected ${what} in a reply`)
}

function decodeReply(codec: Codec<unknown>, body: Uint8Array, channel: string, peer: string): unknown {
  try {
    return codec.decode(body)
  } catch (err) {
    throw new ChannelProtocolError(channel, peer, `malformed ${codec.name} reply: ${messageOf(err)}`, { cause: err })
  }
}

/**
 * Calls a remote handler and waits for its reply. Rejects with RemoteError when the handler threw, the handshake
 * outcomes of openChannel, ChannelAbortedError when `signal` fires (the remote handler's signal fires too),
 * ChannelClosedError when the stream ends without a reply.
 *
 * @example
 * ```ts
 * const uptime = await call<number>(connection, '/pnet/ops/uptime', {}, { signal: AbortSignal.timeout(2_000) })
 * ```
 */
export async function call<Res = unknown>(
  target: StreamOpener,
  name: string,
  request: unknown,
  options: RpcOptions = {},
): Promise<Res> {
  const channel = channelId(name)
  const codec = options.codec ?? jsonCodec()
  const ex = await start(target, channel, RpcKind.CALL, request, options)
  const peer = ex.opened.stream.remotePeer.toString()
  let cancelled = true
  try {
    const reply = await ex.read()
    if (reply === undefined) throw new ChannelClosedError(channel, peer, 'the callee closed the stream without a reply')
    const kind = reply[0]
    if (kind === RpcKind.ERROR) {
      cancelled = false
      throw decodeOrProtocol(reply.subarray(1), channel, peer)
    }
    if (kind !== RpcKind.MESSAGE) throw unexpected(kind, channel, peer)
    const value = decodeReply(codec, reply.subarray(1), channel, peer) as Res
    cancelled = false
    return value
  } finally {
    ex.finish(cancelled)
  }
}

function decodeOrProtocol(body: Uint8Array, channel: string, peer: string): ChannelError {
  try {
    return decodeRemoteError(body, channel, peer)
  } catch (err) {
    return new ChannelProtocolError(channel, peer, `malformed error reply: ${messageOf(err)}`, { cause: err })
  }
}

/**
 * Sends a one-way message; resolves once the callee accepted the channel and the message left (not when it was
 * handled: there is no reply).
 *
 * @example
 * ```ts
 * await cast(connection, '/pnet/log', { level: 'info', msg: 'deployed' })
 * ```
 */
export async function cast(
  target: StreamOpener,
  name: string,
  message: unknown,
  options: RpcOptions = {},
): Promise<void> {
  const channel = channelId(name)
  const ex = await start(target, channel, RpcKind.CAST, message, options)
  ex.finish(false)
}

/**
 * Calls a streaming handler; iterate the replies. Breaking out of the loop (or `signal`) cancels the handler.
 *
 * @example
 * ```ts
 * for await (const line of callStream<string>(connection, '/pnet/ops/tail', { file: '/var/log/syslog' })) {
 *   console.log(line)
 * }
 * ```
 */
export async function* callStream<Res = unknown>(
  target: StreamOpener,
  name: string,
  request: unknown,
  options: RpcOptions = {},
): AsyncGenerator<Res, void, undefined> {
  const channel = channelId(name)
  const codec = options.codec ?? jsonCodec()
  const ex = await start(target, channel, RpcKind.STREAM, request, options)
  const peer = ex.opened.stream.remotePeer.toString()
  let cancelled = true
  try {
    while (true) {
      const reply = await ex.read()
      if (reply === undefined) throw new ChannelClosedError(channel, peer, 'the callee closed the stream before END')
      const kind = reply[0]
      if (kind === RpcKind.END) {
        if (reply.byteLength !== 1) throw unexpected(kind, channel, peer)
        cancelled = false
        return
      }
      if (kind === RpcKind.ERROR) {
        cancelled = false
        throw decodeOrProtocol(reply.subarray(1), channel, peer)
      }
      if (kind !== RpcKind.MESSAGE) throw unexpected(kind, channel, peer)
      yield decodeReply(codec, reply.subarray(1), channel, peer) as Res
    }
  } finally {
    ex.finish(cancelled)
  }
}

export interface RpcHandlers<Req, Res> {
  /** request and reply codec (default jsonCodec()) */
  codec?: Codec<unknown>
  /** unary: the return value is the reply; a throw becomes the caller's RemoteError (name and message only) */
  call?(request: Req, ctx: ChannelContext): Res | Promise<Res>
  /** one-way: nothing is sent back */
  cast?(message: Req, ctx: ChannelContext): void | Promise<void>
  /** server streaming: each item is a reply; stop when `ctx.signal` fires (the caller went away) */
  stream?(request: Req, ctx: ChannelContext): AsyncIterable<Res> | Iterable<Res>
}

/**
 * A channel handler serving call / cast / callStream. `ctx.signal` fires when the caller cancels, its deadline
 * passes, or the stream or connection dies.
 *
 * @example
 * ```ts
 * registry.handle('/pnet/ops/tail', rpcHandler<{ file: string }, string>({
 *   async *stream({ file }, ctx) { for await (const line of follow(file, ctx.signal)) yield line },
 * }))
 * ```
 */
export function rpcHandler<Req = unknown, Res = unknown>(handlers: RpcHandlers<Req, Res>): ChannelHandler {
  const codec = handlers.codec ?? jsonCodec()
  return async (stream, ctx) => {
    const peer = ctx.remotePeer.toString()
    const io = messages(stream, {
      codec: bytesCodec,
      maxMessageSize: ctx.maxMessageSize,
      remoteMaxMessageSize: ctx.remoteMaxMessageSize === 0 ? DEFAULT_MAX_MESSAGE_BYTES : ctx.remoteMaxMessageSize,
      channel: ctx.channel,
    })
    const replyLimit = ctx.remoteMaxMessageSize === 0 ? DEFAULT_MAX_MESSAGE_BYTES : ctx.remoteMaxMessageSize
    const fail = (err: unknown): Promise<void> => io.write(errorFrame(forWire(err), replyLimit))
    const send = async (bytes: Uint8Array): Promise<void> => {
      try {
        await io.write(bytes)
      } catch (err) {
        if (!(err instanceof MessageTooLargeError)) throw err
        await fail(err)
      }
    }
    let request: Uint8Array | undefined
    try {
      request = await io.read({ signal: ctx.signal })
    } catch (err) {
      if (err instanceof MessageTooLargeError || err instanceof ChannelProtocolError) {
        // tell the caller why, then the registry closes the stream (the rest of the oversized frame is dropped)
        await fail(err).catch(() => {})
        await io.end().catch(() => {})
        return
      }
      return // the caller went away before its request arrived
    }
    if (request === undefined) return
    const kind = request[0]
    let done = false
    // the handler's signal: the registry's (stream, connection) or the caller going away after its request
    const cancel = new AbortController()
    const onOuter = (): void => cancel.abort(ctx.signal.reason)
    if (ctx.signal.aborted) onOuter()
    else ctx.signal.addEventListener('abort', onOuter, { once: true })
    const signal = cancel.signal
    // after its request the caller sends nothing: end of stream (for call/stream) or a reset means it went away
    void io.read().then(
      extra => {
        if (done) return
        if (extra !== undefined)
          cancel.abort(new ChannelProtocolError(ctx.channel, peer, 'caller sent a second request'))
        else if (kind !== RpcKind.CAST)
          cancel.abort(new ChannelClosedError(ctx.channel, peer, 'the caller closed the stream'))
      },
      err => {
        if (!done) cancel.abort(err)
      },
    )
    const hctx: ChannelContext = { ...ctx, signal }
    const decode = (): Req => {
      try {
        return codec.decode(request.subarray(1)) as Req
      } catch (err) {
        throw new WireError(`malformed ${codec.name} request: ${messageOf(err)}`)
      }
    }
    try {
      if (kind === RpcKind.CALL && handlers.call !== undefined) {
        const reply = await handlers.call(decode(), hctx)
        if (signal.aborted) return
        await send(frame(RpcKind.MESSAGE, codec.encode(reply)))
      } else if (kind === RpcKind.STREAM && handlers.stream !== undefined) {
        for await (const item of handlers.stream(decode(), hctx)) {
          if (signal.aborted) return
          await send(frame(RpcKind.MESSAGE, codec.encode(item)))
        }
        if (signal.aborted) return
        await io.write(frame(RpcKind.END))
      } else if (kind === RpcKind.CAST && handlers.cast !== undefined) {
        await handlers.cast(decode(), hctx)
        return
      } else {
        const what =
          kind === RpcKind.CALL
            ? 'calls'
            : kind === RpcKind.STREAM
              ? 'streams'
              : kind === RpcKind.CAST
                ? 'casts'
                : undefined
        const peer = ctx.remotePeer.toString()
        await fail(
          what === undefined
            ? new ChannelProtocolError(ctx.channel, peer, `unknown request kind ${kind}`)
            : new UnsupportedRequestError(ctx.channel, peer, what),
        )
      }
      await io.end()
    } catch (err) {
      if (signal.aborted) return // nobody is listening any more
      if (kind === RpcKind.CAST) throw err
      const e = err instanceof WireError ? Object.assign(new Error(err.message), { name: 'ChannelProtocolError' }) : err
      await fail(e).catch(() => {})
      await io.end().catch(() => {})
    } finally {
      done = true
      ctx.signal.removeEventListener('abort', onOuter)
    }
  }
}
