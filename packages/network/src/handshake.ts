/**
 * The connection handshake on a RawIO, done by the libp2p components: multistream-select `/noise`
 * (@libp2p/multistream-select), then Noise XX with the libp2p identity payload (@chainsafe/libp2p-noise). The
 * library runs on a MessageStream we feed from the RawIO.
 *
 * Then the data path becomes ours (see noise-channel.ts): we need the two transport keys and every byte that
 * arrived after the last handshake message. The keys come through the library's documented `crypto` option: Noise's
 * Split() is the only HKDF call with empty input key material, and its two outputs are the initiator→responder and
 * responder→initiator keys. At that moment the adapter stops feeding the library and buffers, so no transport byte is
 * lost or read twice.
 */
import { noise } from '@chainsafe/libp2p-noise'
import type {
  AbortOptions,
  ComponentLogger,
  Upgrader as Libp2pUpgrader,
  PeerId,
  PrivateKey,
  StreamMuxerFactory,
} from '@libp2p/interface'
import { handle as mssHandle, select as mssSelect } from '@libp2p/multistream-select'
import { AbstractMultiaddrConnection, type SendResult } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Direction } from './interface.js'
import { fastNoiseCrypto } from './noise-crypto.js'
import { Buffering, type RawIO } from './raw-io.js'

export const NOISE_PROTOCOL = '/noise'
export const YAMUX_PROTOCOL = '/yamux/1.0.0'

export interface HandshakeResult {
  remotePeer: PeerId
  sendKey: Uint8Array
  recvKey: Uint8Array
  /** both sides offered yamux inside the Noise payload: no multistream-select for the muxer */
  earlyMuxer: boolean
}

/** The MessageStream the library handshakes on; goes quiet (buffering into the RawIO) at Split. */
class HandshakeStream extends AbstractMultiaddrConnection {
  readonly #io: RawIO
  #hold: Buffering | undefined

  constructor(io: RawIO, direction: Direction, log: ComponentLogger) {
    super({ remoteAddr: io.remoteAddr, direction, log: log.forComponent('pnet:handshake'), inactivityTimeout: 0 })
    this.#io = io
    io.attach({
      data: buf => this.onData(buf),
      end: () => this.onTransportClosed(),
      error: err => this.abort(err),
      drain: () => this.safeDispatchEvent('drain'),
    })
  }

  /** From now on bytes are transport data: hold them for the session. */
  stopFeeding(): void {
    if (this.#hold !== undefined) return
    this.#hold = new Buffering()
    this.#io.attach(this.#hold)
  }

  /** The library gives back bytes it read ahead (at unwrap); after Split they belong to the session. */
  override unshift(data: Uint8Array | Uint8ArrayList): void {
    if (this.#hold === undefined) {
      super.unshift(data)
      return
    }
    const pieces = data instanceof Uint8Array ? [data] : [...data]
    this.#hold.chunks.unshift(...pieces)
  }

  sendData(data: Uint8ArrayList): SendResult {
    return { sentBytes: data.byteLength, canSendMore: this.#io.write([...data]) }
  }

  sendReset(err: Error): void {
    this.#io.destroy(err)
  }

  sendPause(): void {
    this.#io.pause()
  }

  sendResume(): void {
    this.#io.resume()
  }

  async sendClose(): Promise<void> {
    this.#io.end()
  }
}

export interface HandshakeInit {
  privateKey: PrivateKey
  /** our peer ID (of `privateKey`) */
  peerId: PeerId
  componentLogger: ComponentLogger
  /** what we offer in the Noise payload for early muxer negotiation */
  muxers: Map<string, StreamMuxerFactory>
  /** the network's static Noise key (see noiseStaticKey) */
  staticKey: NoiseStaticKey
}

/** A static Noise (X25519) key pair; `seed` is its private key. */
export interface NoiseStaticKey {
  readonly seed: Uint8Array
  readonly pair: { readonly publicKey: Uint8Array; readonly privateKey: Uint8Array }
}

/**
 * The identity key as the Noise library gets it: its signature over our static Noise key is the same in every
 * handshake (the static key is the network's, Ed25519 signatures are deterministic), so it is made once instead of
 * per connection. Everything else is the key's own.
 *
 * @example
 * ```ts
 * const privateKey = signingOnce(await generateKey())
 * ```
 */
export function signingOnce(key: PrivateKey): PrivateKey {
  let signed: { data: Uint8Array; signature: Uint8Array } | undefined
  const sign = async (data: Uint8Array | Uint8ArrayList, options?: AbortOptions): Promise<Uint8Array> => {
    const bytes = data instanceof Uint8Array ? data : data.subarray()
    if (signed !== undefined && Buffer.from(signed.data).equals(bytes)) return signed.signature
    const signature = await key.sign(bytes, options)
    signed = { data: Uint8Array.from(bytes), signature }
    return signature
  }
  return new Proxy(key, {
    get(target, prop) {
      if (prop === 'sign') return sign
      const value: unknown = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/**
 * A static Noise key for one network, made once: libp2p nodes keep one for their life (its public half is signed by
 * the identity key in every handshake). Making a fresh one per connection cost ~0.2 ms of CPU per accepted socket,
 * before the remote had said a word.
 *
 * @example
 * ```ts
 * const staticKey = noiseStaticKey()
 * await handshake(io, 'inbound', { privateKey, peerId, componentLogger, muxers, staticKey }, signal)
 * ```
 */
export function noiseStaticKey(): NoiseStaticKey {
  const pair = fastNoiseCrypto.generateX25519KeyPair()
  return { seed: pair.privateKey, pair }
}

/**
 * Runs multistream-select and the Noise handshake on `io`. On success the RawIO holds every byte received after the
 * handshake (replayed to the next `attach`); on failure the error is the library's and `io` is left to the caller.
 *
 * @example
 * ```ts
 * const hs = await handshake(io, 'outbound', { privateKey, peerId, componentLogger, muxers, staticKey }, signal)
 * ```
 */
export async function handshake(
  io: RawIO,
  direction: Direction,
  init: HandshakeInit,
  signal: AbortSignal,
): Promise<HandshakeResult> {
  const stream = new HandshakeStream(io, direction, init.componentLogger)
  let keys: [Uint8Array, Uint8Array] | undefined
  const { staticKey } = init
  const crypto = {
    ...fastNoiseCrypto,
    getHKDF(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
      const out = fastNoiseCrypto.getHKDF(ck, ikm)
      if (ikm.byteLength === 0) {
        keys = [out[0], out[1]] // Split(): the transport keys
        stream.stopFeeding()
      }
      return out
    },
    // the library derives the static key pair from its seed in every constructor: ours is made already
    generateX25519KeyPairFromSeed(seed: Uint8Array) {
      return seed === staticKey.seed ? staticKey.pair : fastNoiseCrypto.generateX25519KeyPairFromSeed(seed)
    },
  }
  try {
    if (direction === 'outbound') await mssSelect(stream, NOISE_PROTOCOL, { signal })
    else await mssHandle(stream, NOISE_PROTOCOL, { signal })
    // built once the remote agreed to /noise: a socket that never gets that far costs nothing more
    const encrypter = noise({ crypto, staticNoiseKey: staticKey.seed })({
      peerId: init.peerId,
      privateKey: init.privateKey,
      logger: init.componentLogger,
      upgrader: { getStreamMuxers: () => init.muxers } as unknown as Libp2pUpgrader,
    })
    const secured =
      direction === 'outbound'
        ? await encrypter.secureOutbound(stream, { signal })
        : await encrypter.secureInbound(stream, { signal })
    if (keys === undefined) throw new Error('noise finished without deriving transport keys')
    const [k1, k2] = keys
    // Split(): k1 protects initiator→responder, k2 responder→initiator
    return {
      remotePeer: secured.remotePeer,
      sendKey: direction === 'outbound' ? k1 : k2,
      recvKey: direction === 'outbound' ? k2 : k1,
      // our only muxer is yamux, so a common one negotiated inside Noise is yamux
      earlyMuxer: secured.streamMuxer !== undefined,
    }
  } finally {
    stream.stopFeeding() // on failure too: the library must not see another byte
  }
}
