/**
 * The accepting side: a registry of channels and the handshake that runs on every inbound stream.
 *
 * `accept(stream, connection)` is the network's inbound-stream handler. It answers multistream-select (js-libp2p and
 * go-libp2p dialers included), then for channels with a header reads the HELLO, picks a version, runs the auth
 * policy, checks the concurrency limit and answers ACCEPT or REJECT; then calls the handler. A stream that breaks the
 * protocol or stalls is closed with the matching outcome; the connection and its other streams carry on, unless the
 * peer keeps misbehaving (limits.protocolStrikes: strikes per peer, remembered across connections). Refusals are
 * cheap — no stack traces, no timers for streams the caller already reset — since a flood is made of them.
 */
import type { Connection, Logger, PeerId, Stream } from '@pnet/network'
import { childLogger, logThrottled, silentLogger, withoutStack } from '@pnet/network'
import { type AuthContext, type AuthPolicy, allowAll, type Claims } from './auth.js'
import { ChannelStream } from './channel-stream.js'
import { type Deadline, deadline, within } from './deadline.js'
import { ChannelClosedError, ChannelProtocolError, DuplicateChannelError, messageOf, toError } from './errors.js'
import {
  checkScheme,
  decodeHeaderFrame,
  encodeHeaderFrame,
  FLAG_EARLY_DATA,
  FrameType,
  type Hello,
  type RejectCodeName,
} from './header.js'
import { FrameTooLargeError, raceSignal, StreamReader, StreamWriter } from './io.js'
import {
  type ChannelLimits,
  DEFAULT_MAX_CONCURRENT,
  DEFAULT_MAX_MESSAGE_BYTES,
  HANDLER_CLOSE_TIMEOUT_MS,
  MAX_CHALLENGES,
  MAX_CREDENTIAL_BYTES,
  MAX_HEADER_FRAME_BYTES,
  MAX_MULTISTREAM_MESSAGE_BYTES,
  MAX_PROPOSALS,
  MAX_STRIKE_PEERS,
  OVERSIZED_FRAME_STRIKES,
  REJECT_DRAIN_BYTES,
  REJECT_LINGER_MS,
  resolveChannelLimits,
  STRIKE_LEAK_PER_SECOND,
  WASTED_STREAM_STRIKES,
} from './limits.js'
import { checkMetadata, type Metadata } from './metadata.js'
import {
  channelId,
  checkChannelName,
  looksLikeMultistream,
  MULTISTREAM_PROTOCOL,
  multistreamMessage,
  NA,
  parseMultistreamMessage,
} from './multistream.js'
import { checkMessageSize } from './open.js'
import { StrikeLedger } from './strikes.js'
import { chooseVersion, normalizeVersions, type VersionRange, type VersionSpec } from './versions.js'
import { lengthPrefixed, WireError } from './wire.js'

/** What a handler knows about the stream it was given. */
export interface ChannelContext {
  /** the channel (protocol ID) selected */
  readonly channel: string
  /** the version chosen; 0 for channels without a header */
  readonly version: number
  readonly localPeer: PeerId
  readonly remotePeer: PeerId
  /** the caller's metadata */
  readonly metadata: Metadata
  /** which policy allowed the caller, and the claims it vouched for (e.g. from a capability token) */
  readonly auth: { readonly policy: string; readonly claims: Claims }
  /** the largest message this channel reads (its `maxMessageSize`) */
  readonly maxMessageSize: number
  /** the largest message the caller reads; 0 when unknown (no header, or the caller did not say) */
  readonly remoteMaxMessageSize: number
  /** fires when the caller goes away: the stream is reset or fails, the connection closes, or the registry closes */
  readonly signal: AbortSignal
  /** the connection the stream arrived on, when the network gave one */
  readonly connection?: ConnectionLike
}

/**
 * Runs for each accepted stream. The handler owns the stream until its promise settles; then the stream is closed
 * (gracefully if it resolved, reset if it threw), so await your reads and writes.
 */
export type ChannelHandler = (stream: Stream, ctx: ChannelContext) => void | Promise<void>

/** What the metadata function of `handle()` gets. */
export interface MetadataContext {
  readonly channel: string
  readonly version: number
  readonly remotePeer: PeerId
  readonly metadata: Metadata
  readonly claims: Claims
}

export interface HandleOptions {
  /** versions supported (default 1): a number, a list, a range or a list of ranges */
  versions?: VersionSpec
  /** who may open it (default allowAll(): every authenticated peer) */
  auth?: AuthPolicy
  /** handler invocations at once, all peers together (default 1024); more get OVERLOADED */
  maxConcurrent?: number
  /** the largest message this channel reads, announced to callers (default 1 MiB, at most 64 MiB) */
  maxMessageSize?: number
  /** metadata sent back in ACCEPT: a map, or a function of the caller */
  metadata?: Metadata | ((ctx: MetadataContext) => Metadata | Promise<Metadata>)
  /**
   * false: a plain libp2p protocol (multistream-select only, no pnet header), for stock libp2p peers. Then versions,
   * metadata and credential-based auth do not apply; a denied caller gets `na`, an overloaded channel resets.
   */
  header?: boolean
}

/** The part of a Connection the registry uses; relayed streams may pass their own. */
export interface ConnectionLike {
  readonly remotePeer?: PeerId
  /** settles when the connection ends: every channel on it sees its signal fire */
  readonly closed?: Promise<unknown>
  /** used to cut a connection that keeps breaking the protocol */
  abort?(err: Error): void
  /** used to hold a connection from a peer still over the strike limit (then it is aborted) */
  mute?(reason: Error): void
}

export interface ChannelStats {
  readonly channel: string
  /** handler invocations running now */
  readonly active: number
  /** streams accepted since the channel was registered */
  readonly accepted: number
  /** handshakes that ended in each outcome */
  readonly rejected: Readonly<Record<RejectCodeName, number>>
  /** handlers that threw */
  readonly handlerErrors: number
}

export interface RegistryStats {
  /** inbound streams mid-handshake */
  readonly pendingHandshakes: number
  /** proposals for channels nobody handles */
  readonly unknownChannel: number
  /** handshakes that failed before a channel was selected (garbage, timeouts) */
  readonly selectionFailures: number
  readonly channels: readonly ChannelStats[]
}

export interface ChannelRegistryInit {
  /** our peer ID (psk transcripts, capability audiences) */
  localPeer: PeerId
  logger?: Logger
  limits?: Partial<ChannelLimits>
}

export interface ChannelRegistry {
  readonly localPeer: PeerId
  readonly limits: Readonly<ChannelLimits>
  /**
   * Registers a channel (a protocol ID, or a short name: `echo` means `/pnet/echo`); throws DuplicateChannelError
   * if it is taken.
   *
   * @example
   * ```ts
   * registry.handle('echo', async stream => { await stream.sink(stream.source) })   // serves /pnet/echo
   * ```
   */
  handle(name: string, handler: ChannelHandler, options?: HandleOptions): void
  /** Unregisters a channel; running handlers carry on, new callers get NO_SUCH_CHANNEL. */
  unhandle(name: string): boolean
  /** names handled now */
  channels(): string[]
  /** The inbound-stream handler: `network.handle(registry.accept)`. Never throws; every outcome ends the stream. */
  readonly accept: (stream: Stream, connection?: ConnectionLike | Connection) => void
  stats(): RegistryStats
  /** Refuses new streams, aborts handshakes in progress and fires every running handler's signal. */
  close(): Promise<void>
}

interface Entry {
  readonly name: string
  readonly handler: ChannelHandler
  readonly versions: VersionRange[]
  readonly auth: AuthPolicy
  readonly maxConcurrent: number
  readonly maxMessageSize: number
  readonly metadata: HandleOptions['metadata']
  readonly header: boolean
  active: number
  accepted: number
  handlerErrors: number
  readonly rejected: Record<RejectCodeName, number>
}

/** A handshake ending decided by us (not a failure of the stream). */
class Rejection extends Error {
  constructor(
    readonly code: RejectCodeName,
    readonly reason: string,
    readonly supported: readonly VersionRange[] = [],
  ) {
    super(reason)
  }
}

const noop = (): void => {}

function rejectedCounts(): Record<RejectCodeName, number> {
  return {
    NO_SUCH_CHANNEL: 0,
    VERSION_UNSUPPORTED: 0,
    UNAUTHORIZED: 0,
    OVERLOADED: 0,
    HANDSHAKE_TIMEOUT: 0,
    PROTOCOL_ERROR: 0,
  }
}

/**
 * Creates a channel registry for one identity.
 *
 * @example
 * ```ts
 * const registry = createChannelRegistry({ localPeer: network.peerId })
 * registry.handle('/pnet/echo', async stream => { await stream.sink(stream.source) }, { versions: [1, 2] })
 * network.handle(registry.accept)
 * ```
 */
export function createChannelRegistry(init: ChannelRegistryInit): ChannelRegistry {
  return new Registry(init)
}

class Registry implements ChannelRegistry {
  readonly localPeer: PeerId
  readonly limits: Readonly<ChannelLimits>
  readonly #log: Logger
  readonly #channels = new Map<string, Entry>()
  readonly #pendingByPeer = new Map<string, number>()
  #pending = 0
  #unknownChannel = 0
  #selectionFailures = 0
  readonly #strikes: StrikeLedger
  /** connections already aborted for strikes (one log line and one abort each) */
  readonly #struckOut = new WeakSet<object>()
  readonly #watched = new WeakMap<object, Set<AbortController>>()
  readonly #running = new Set<AbortController>()
  readonly #closing = new AbortController()

  constructor(init: ChannelRegistryInit) {
    this.localPeer = init.localPeer
    this.limits = resolveChannelLimits(init.limits)
    this.#log = childLogger(init.logger ?? silentLogger, { component: 'channel' })
    this.#strikes = new StrikeLedger({
      leakPerSecond: STRIKE_LEAK_PER_SECOND,
      maxPeers: MAX_STRIKE_PEERS,
      cap: 2 * this.limits.protocolStrikes,
    })
  }

  handle(channel: string, handler: ChannelHandler, options: HandleOptions = {}): void {
    const name = checkChannelName(channelId(channel))
    if (typeof handler !== 'function') throw new TypeError(`handler for ${name} must be a function`)
    if (this.#channels.has(name)) throw new DuplicateChannelError(name)
    const header = options.header ?? true
    const auth = options.auth ?? allowAll()
    if (!header) {
      if (options.versions !== undefined) throw new TypeError(`${name}: versions need the pnet header`)
      if (options.metadata !== undefined) throw new TypeError(`${name}: metadata needs the pnet header`)
      if (auth.requiresHeader === true) throw new TypeError(`${name}: auth policy ${auth.name} needs the pnet header`)
    }
    const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new RangeError(`${name}: maxConcurrent must be an integer >= 1, got ${String(maxConcurrent)}`)
    }
    const metadata = options.metadata
    if (metadata !== undefined && typeof metadata !== 'function') checkMetadata(metadata)
    this.#channels.set(name, {
      name,
      handler,
      versions: normalizeVersions(options.versions ?? 1),
      auth,
      maxConcurrent,
      maxMessageSize: checkMessageSize(options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_BYTES, `${name}: maxMessageSize`),
      metadata,
      header,
      active: 0,
      accepted: 0,
      handlerErrors: 0,
      rejected: rejectedCounts(),
    })
  }

  unhandle(name: string): boolean {
    return this.#channels.delete(channelId(name))
  }

  channels(): string[] {
    return [...this.#channels.keys()]
  }

  stats(): RegistryStats {
    return {
      pendingHandshakes: this.#pending,
      unknownChannel: this.#unknownChannel,
      selectionFailures: this.#selectionFailures,
      channels: [...this.#channels.values()].map(e => ({
        channel: e.name,
        active: e.active,
        accepted: e.accepted,
        rejected: { ...e.rejected },
        handlerErrors: e.handlerErrors,
      })),
    }
  }

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return
    this.#closing.abort(new Error('channel registry closed'))
    for (const c of this.#running) c.abort(new Error('channel registry closed'))
  }

  readonly accept = (stream: Stream, connection?: ConnectionLike | Connection): void => {
    const peer = stream.remotePeer.toString()
    if (this.#closing.signal.aborted) {
      stream.abort(withoutStack(() => new Error('channel registry is closed')))
      return
    }
    if (this.#strikes.score(peer) >= this.limits.protocolStrikes) {
      this.#holdBanned(stream, connection, peer)
      return
    }
    const fromPeer = this.#pendingByPeer.get(peer) ?? 0
    if (this.#pending >= this.limits.maxPendingHandshakes || fromPeer >= this.limits.maxPendingHandshakesPerPeer) {
      this.#log.debug({ remote: peer, pending: this.#pending, fromPeer }, 'too many channel handshakes; stream reset')
      stream.abort(withoutStack(() => new Error('too many channel handshakes in progress')))
      return
    }
    this.#pending++
    this.#pendingByPeer.set(peer, fromPeer + 1)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.#pending--
      const n = (this.#pendingByPeer.get(peer) ?? 1) - 1
      if (n <= 0) this.#pendingByPeer.delete(peer)
      else this.#pendingByPeer.set(peer, n)
    }
    this.#negotiate(stream, connection, release)
      .catch(err => {
        this.#log.warn({ remote: peer, err: messageOf(err) }, 'channel handshake failed unexpectedly')
        stream.abort(toError(err))
      })
      .finally(release)
  }

  /**
   * Charges the peer for a stream it wasted or broke; at limits.protocolStrikes its connection is aborted. The score
   * is the peer's, not the connection's: a peer cut off that reconnects and carries on is cut at its next strike.
   */
  #strike(connection: ConnectionLike | undefined, peer: string, reason: string, weight = 1): void {
    const score = this.#strikes.charge(peer, weight)
    if (score < this.limits.protocolStrikes || connection === undefined || this.#struckOut.has(connection)) return
    this.#struckOut.add(connection)
    const strikes = Math.floor(score)
    // a peer cut off that reconnects at once is cut again and again: one line a second at most
    logThrottled(
      this.#log,
      'warn',
      { remote: peer, strikes, reason },
      'peer keeps wasting or breaking channel streams; connection aborted',
    )
    connection.abort?.(
      new ChannelProtocolError(
        '*',
        peer,
        `${strikes} channel protocol strikes (streams without a channel, violations, timeouts; last: ${reason})`,
      ),
    )
  }

  /**
   * A stream from a peer still over the strike limit (cut off, and straight back): no negotiation. Cutting it again
   * would only buy another handshake a moment later, so the connection is muted — nothing more it sends is read, its
   * own writes stall — until its score has leaked below the limit, then aborted. The attempt costs a strike.
   */
  #holdBanned(stream: Stream, connection: ConnectionLike | undefined, peer: string): void {
    const score = this.#strikes.charge(peer, 1)
    if (connection === undefined || this.#struckOut.has(connection)) {
      stream.abort(withoutStack(() => new ChannelProtocolError('*', peer, 'over the strike limit')))
      return
    }
    this.#struckOut.add(connection)
    const holdMs = Math.ceil(((score - this.limits.protocolStrikes + 1) / STRIKE_LEAK_PER_SECOND) * 1000)
    const reason = `still over the strike limit (${Math.floor(score)} strikes): held ${holdMs} ms, then closed`
    const err = new ChannelProtocolError('*', peer, reason)
    logThrottled(
      this.#log,
      'warn',
      { remote: peer, strikes: Math.floor(score), holdMs },
      'peer over the strike limit is back; connection muted',
    )
    if (connection.mute === undefined) {
      connection.abort?.(err)
      return
    }
    connection.mute(err)
    const timer = setTimeout(() => connection.abort?.(err), holdMs)
    timer.unref()
    connection.closed?.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    )
  }

  async #negotiate(stream: Stream, connection: ConnectionLike | undefined, release: () => void): Promise<void> {
    const limit = deadline(this.limits.handshakeTimeoutMs, this.#closing.signal)
    try {
      await this.#handshake(stream, connection, release, limit)
    } finally {
      limit.clear()
    }
  }

  async #handshake(
    stream: Stream,
    connection: ConnectionLike | undefined,
    release: () => void,
    limit: Deadline,
  ): Promise<void> {
    const peer = stream.remotePeer.toString()
    const signal = limit.signal
    const reader = new StreamReader(stream.source)
    const writer = new StreamWriter(stream)
    reader.beforeWait = () => {
      writer.flush().catch(noop)
    }

    // selection: multistream-select, answered like js-libp2p's handle() (the header may come before or not at all)
    let entry: Entry | undefined
    // refused only for being unknown, or also by an auth policy (a policy refusal is not the caller's fault)
    let unknown = false
    let denied = false
    try {
      let afterNa = false
      for (let proposals = 1; entry === undefined; proposals++) {
        if (proposals > MAX_PROPOSALS) throw new WireError(`more than ${MAX_PROPOSALS} multistream messages`)
        const payload = await reader.readFrame(afterNa ? MAX_HEADER_FRAME_BYTES : MAX_MULTISTREAM_MESSAGE_BYTES, signal)
        if (payload === undefined) {
          // the caller gave up (e.g. after `na`); nothing more to say
          release()
          if (!denied) {
            const reason = unknown ? 'asked only for unknown channels' : 'no channel asked'
            this.#strike(connection, peer, reason, WASTED_STREAM_STRIKES)
          }
          await this.#closeQuietly(stream, reader, writer)
          return
        }
        if (afterNa && payload[0] === FrameType.HELLO && !looksLikeMultistream(payload)) {
          // a pnet caller sent its header optimistically for the channel we just refused: it will not propose again
          release()
          if (!denied) this.#strike(connection, peer, 'asked for an unknown channel', WASTED_STREAM_STRIKES)
          await this.#linger(stream, reader, writer)
          return
        }
        if (payload.byteLength > MAX_MULTISTREAM_MESSAGE_BYTES) {
          throw new WireError(`multistream message of ${payload.byteLength} bytes`)
        }
        const proposal = parseMultistreamMessage(payload)
        if (proposal === MULTISTREAM_PROTOCOL) {
          writer.push(multistreamMessage(MULTISTREAM_PROTOCOL))
          continue
        }
        const candidate = this.#channels.get(proposal)
        if (candidate === undefined) {
          unknown = true
          this.#unknownChannel++
          this.#log.debug({ remote: peer, channel: proposal }, 'no such channel')
          writer.push(multistreamMessage(NA))
          afterNa = true
          continue
        }
        if (!candidate.header && !(await this.#headerlessAllowed(candidate, stream, signal))) {
          denied = true
          candidate.rejected.UNAUTHORIZED++
          writer.push(multistreamMessage(NA))
          afterNa = true
          continue
        }
        writer.push(multistreamMessage(proposal))
        entry = candidate
      }
    } catch (err) {
      release()
      this.#selectionFailures++
      const reason = limit.expired ? 'handshake timed out during protocol selection' : messageOf(err)
      this.#log.debug({ remote: peer, reason }, 'channel selection failed; stream reset')
      // garbage or a timeout is a strike; a stream reset or closed before it selected anything is a wasted one
      if (!this.#closing.signal.aborted) {
        const weight =
          err instanceof FrameTooLargeError
            ? OVERSIZED_FRAME_STRIKES
            : err instanceof WireError || limit.expired
              ? 1
              : WASTED_STREAM_STRIKES
        this.#strike(connection, peer, reason, weight)
      }
      // the caller reset it (a churning peer does, thousands a second): nobody to answer, nothing to abort
      if (stream.status !== 'open') return
      // answers already queued (na…) go out before the reset
      if (writer.queued) await within(REJECT_LINGER_MS, () => writer.flush()).catch(noop)
      stream.abort(withoutStack(() => new ChannelProtocolError('?', peer, reason)))
      return
    }

    stream.labels.channel = entry.name
    if (!entry.header) {
      if (entry.active >= entry.maxConcurrent) {
        entry.rejected.OVERLOADED++
        release()
        this.#log.debug({ remote: peer, channel: entry.name }, 'channel overloaded; stream reset')
        stream.abort(new Error(`channel ${entry.name} is overloaded`))
        return
      }
      entry.active++
      writer.flush().catch(noop)
      release()
      limit.clear()
      const ctx = this.#context(entry, stream, connection, 0, Object.freeze({}), 'header-less', {}, 0)
      await this.#run(entry, stream, reader, writer, ctx)
      return
    }

    let accepted: { version: number; hello: Hello; policy: string; claims: Claims } | undefined
    try {
      accepted = await this.#header(entry, stream, reader, writer, signal)
    } catch (err) {
      release()
      await this.#refuse(entry, stream, reader, writer, connection, err, limit.expired)
      return
    }
    release()
    limit.clear()
    const { version, hello, policy, claims } = accepted
    const ctx = this.#context(entry, stream, connection, version, hello.metadata, policy, claims, hello.maxMessageSize)
    await this.#run(entry, stream, reader, writer, ctx)
  }

  async #headerlessAllowed(entry: Entry, stream: Stream, signal: AbortSignal): Promise<boolean> {
    const ctx: AuthContext = {
      channel: entry.name,
      version: 0,
      localPeer: this.localPeer,
      remotePeer: stream.remotePeer,
      metadata: Object.freeze({}),
      credentials: new Map(),
      callerNonce: new Uint8Array(0),
      signal,
      challenge: () => Promise.reject(new Error(`channel ${entry.name} has no header: no challenges`)),
    }
    try {
      const decision = await raceSignal(Promise.resolve(entry.auth.authorize(ctx)), signal)
      return decision.allowed
    } catch (err) {
      if (signal.aborted) throw err
      this.#log.warn({ channel: entry.name, err: messageOf(err) }, 'auth policy threw; caller refused')
      return false
    }
  }

  /** Reads the HELLO and decides; resolves with what ACCEPT said, or throws a Rejection / failure. */
  async #header(
    entry: Entry,
    stream: Stream,
    reader: StreamReader,
    writer: StreamWriter,
    signal: AbortSignal,
  ): Promise<{ version: number; hello: Hello; policy: string; claims: Claims }> {
    const payload = await reader.readFrame(MAX_HEADER_FRAME_BYTES, signal)
    if (payload === undefined) {
      throw new ChannelClosedError(entry.name, stream.remotePeer.toString(), 'the caller left before its header')
    }
    const hello = decodeHeaderFrame(payload)
    if (hello.type !== 'hello') throw new WireError(`expected a HELLO frame, got ${hello.type.toUpperCase()}`)
    const version = chooseVersion(entry.versions, hello.versions)
    if (version === undefined) {
      throw new Rejection('VERSION_UNSUPPORTED', 'no common version', entry.versions)
    }
    const early = (hello.flags & FLAG_EARLY_DATA) !== 0
    let challenges = 0
    const ctx: AuthContext = {
      channel: entry.name,
      version,
      localPeer: this.localPeer,
      remotePeer: stream.remotePeer,
      metadata: hello.metadata,
      credentials: hello.credentials,
      callerNonce: hello.nonce,
      signal,
      challenge: async (scheme, challenge) => {
        checkScheme(scheme)
        if (++challenges > MAX_CHALLENGES) throw new Error(`more than ${MAX_CHALLENGES} challenges in one handshake`)
        if (challenge.byteLength > MAX_CREDENTIAL_BYTES) throw new RangeError('challenge payload is too large')
        // a caller that sent early data has no challenge-capable credential: its answer would be empty
        if (early) return new Uint8Array(0)
        writer.push(lengthPrefixed(encodeHeaderFrame({ type: 'challenge', scheme, payload: challenge })))
        const answer = await reader.readFrame(MAX_HEADER_FRAME_BYTES, signal)
        if (answer === undefined) {
          throw new ChannelClosedError(entry.name, stream.remotePeer.toString(), 'the caller left during a challenge')
        }
        const proof = decodeHeaderFrame(answer)
        if (proof.type !== 'proof' || proof.scheme !== scheme) {
          throw new WireError(`expected a ${scheme} PROOF, got ${proof.type.toUpperCase()}`)
        }
        return proof.answer
      },
    }
    let decision: Awaited<ReturnType<AuthPolicy['authorize']>>
    try {
      decision = await raceSignal(Promise.resolve(entry.auth.authorize(ctx)), signal)
    } catch (err) {
      if (signal.aborted || err instanceof WireError || err instanceof ChannelClosedError) throw err
      this.#log.warn({ channel: entry.name, err: messageOf(err) }, 'auth policy threw; caller refused')
      throw new Rejection('UNAUTHORIZED', 'authorization failed')
    }
    if (!decision.allowed) throw new Rejection('UNAUTHORIZED', decision.reason)
    if (entry.active >= entry.maxConcurrent) {
      throw new Rejection('OVERLOADED', `${entry.maxConcurrent} streams already open (maxConcurrent)`)
    }
    entry.active++
    try {
      const claims = decision.claims ?? {}
      const metadata =
        typeof entry.metadata === 'function'
          ? checkMetadata(
              await entry.metadata({
                channel: entry.name,
                version,
                remotePeer: stream.remotePeer,
                metadata: hello.metadata,
                claims,
              }),
            )
          : checkMetadata(entry.metadata)
      writer.push(
        lengthPrefixed(encodeHeaderFrame({ type: 'accept', version, maxMessageSize: entry.maxMessageSize, metadata })),
      )
      writer.flush().catch(noop)
      return { version, hello, policy: decision.by ?? entry.auth.name, claims }
    } catch (err) {
      entry.active--
      throw err
    }
  }

  /** Ends a failed header exchange: REJECT with the outcome, then close (or reset a peer that broke the protocol). */
  async #refuse(
    entry: Entry,
    stream: Stream,
    reader: StreamReader,
    writer: StreamWriter,
    connection: ConnectionLike | undefined,
    err: unknown,
    expired: boolean,
  ): Promise<void> {
    const peer = stream.remotePeer.toString()
    if (err instanceof ChannelClosedError || (!expired && !(err instanceof Rejection) && !(err instanceof WireError))) {
      // the stream died or the caller left: nobody to tell
      this.#log.debug({ remote: peer, channel: entry.name, reason: messageOf(err) }, 'caller went away mid-handshake')
      if (!this.#closing.signal.aborted) {
        this.#strike(connection, peer, 'left in the middle of a channel handshake', WASTED_STREAM_STRIKES)
      }
      stream.abort(toError(err))
      return
    }
    const code: RejectCodeName = err instanceof Rejection ? err.code : expired ? 'HANDSHAKE_TIMEOUT' : 'PROTOCOL_ERROR'
    const reason = err instanceof Rejection ? err.reason : expired ? 'header not received in time' : messageOf(err)
    const supported = err instanceof Rejection ? err.supported : []
    entry.rejected[code]++
    this.#log.debug({ remote: peer, channel: entry.name, outcome: code, reason }, 'channel refused')
    writer.push(lengthPrefixed(encodeHeaderFrame({ type: 'reject', code, reason, supported })))
    if (code === 'PROTOCOL_ERROR' || code === 'HANDSHAKE_TIMEOUT') {
      this.#strike(connection, peer, reason, err instanceof FrameTooLargeError ? OVERSIZED_FRAME_STRIKES : 1)
      // say why, then reset: a peer that breaks the protocol gets no more of our time
      await within(REJECT_LINGER_MS, () => writer.flush()).catch(noop)
      reader.stop()
      stream.abort(withoutStack(() => new ChannelProtocolError(entry.name, peer, reason)))
      return
    }
    await this.#linger(stream, reader, writer)
  }

  /** Closes our side, then waits briefly for the caller to close theirs (dropping what it still sends). */
  async #linger(stream: Stream, reader: StreamReader, writer: StreamWriter): Promise<void> {
    const closed = await within(REJECT_LINGER_MS, async signal => {
      await raceSignal(writer.end(), signal)
      if (!(await reader.discard(REJECT_DRAIN_BYTES, signal))) return false
      await stream.close({ signal })
      return true
    }).catch(() => false)
    if (!closed) stream.abort(new Error('caller did not close after the handshake ended'))
  }

  async #closeQuietly(stream: Stream, reader: StreamReader, writer: StreamWriter): Promise<void> {
    reader.stop()
    const closed = await within(REJECT_LINGER_MS, async signal => {
      await raceSignal(writer.end(), signal)
      await stream.close({ signal })
      return true
    }).catch(() => false)
    if (!closed) stream.abort(new Error('close timed out'))
  }

  #context(
    entry: Entry,
    stream: Stream,
    connection: ConnectionLike | undefined,
    version: number,
    metadata: Metadata,
    policy: string,
    claims: Claims,
    remoteMaxMessageSize: number,
  ): Omit<ChannelContext, 'signal'> {
    if (version > 0) stream.labels['channel.version'] = String(version)
    return {
      channel: entry.name,
      version,
      localPeer: this.localPeer,
      remotePeer: stream.remotePeer,
      metadata,
      auth: Object.freeze({ policy, claims: Object.freeze({ ...claims }) }),
      maxMessageSize: entry.maxMessageSize,
      remoteMaxMessageSize,
      connection,
    }
  }

  /** Signals of the handlers running on `connection`, all fired when it closes (one listener per connection). */
  #watch(connection: ConnectionLike | undefined): Set<AbortController> | undefined {
    if (connection?.closed === undefined) return undefined
    let set = this.#watched.get(connection)
    if (set === undefined) {
      const running = new Set<AbortController>()
      set = running
      this.#watched.set(connection, running)
      connection.closed.then(() => {
        for (const c of running) c.abort(new Error('connection closed'))
      }, noop)
    }
    return set
  }

  async #run(
    entry: Entry,
    stream: Stream,
    reader: StreamReader,
    writer: StreamWriter,
    partial: Omit<ChannelContext, 'signal'>,
  ): Promise<void> {
    const controller = new AbortController()
    const peer = stream.remotePeer.toString()
    const channelStream = new ChannelStream(stream, reader, writer, err => controller.abort(err))
    const watched = this.#watch(partial.connection)
    watched?.add(controller)
    this.#running.add(controller)
    entry.accepted++
    try {
      await entry.handler(channelStream, { ...partial, signal: controller.signal })
      await within(HANDLER_CLOSE_TIMEOUT_MS, signal => channelStream.close({ signal })).catch(err => {
        channelStream.abort(toError(err))
      })
    } catch (err) {
      entry.handlerErrors++
      this.#log.warn({ remote: peer, channel: entry.name, err: messageOf(err) }, 'channel handler threw; stream reset')
      channelStream.abort(toError(err))
    } finally {
      entry.active--
      watched?.delete(controller)
      this.#running.delete(controller)
    }
  }
}
