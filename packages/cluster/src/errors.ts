/**
 * Errors of @pnet/cluster. Each extends @pnet/network's `NetworkError` (so one `instanceof` catches every pnet
 * error), has a literal `name` and an `ERR_…` `code`, and keeps the data involved in fields, not only in the message.
 *
 * @example
 * ```ts
 * import { decodeVClock, MalformedClusterDataError } from '@pnet/cluster'
 *
 * try { decodeVClock(bytes) } catch (err) {
 *   if (err instanceof MalformedClusterDataError) console.error(err.what, err.field, err.reason)
 * }
 * ```
 */
import { NetworkError } from '@pnet/network'

/** Bytes that do not decode as the cluster structure they claim to be (a vector clock, a message). */
export class MalformedClusterDataError extends NetworkError {
  override readonly name = 'MalformedClusterDataError'
  override readonly code = 'ERR_MALFORMED_CLUSTER_DATA'
  constructor(
    /** what was being decoded, e.g. `vector clock` */
    readonly what: string,
    /** the field that did not fit */
    readonly field: string,
    /** why, e.g. `truncated`, `non-minimal varint`, `not sorted` */
    readonly reason: string,
  ) {
    super(`malformed ${what}: ${field}: ${reason}`, 'ERR_MALFORMED_CLUSTER_DATA')
  }
}

/** An argument outside what the API accepts (a weight that is not a finite non-negative number, n < 1, …). */
export class InvalidClusterArgumentError extends NetworkError {
  override readonly name = 'InvalidClusterArgumentError'
  override readonly code = 'ERR_INVALID_CLUSTER_ARGUMENT'
  constructor(
    /** the argument or option, e.g. `weight` */
    readonly argument: string,
    /** the value given, as a string */
    readonly value: string,
    readonly reason: string,
  ) {
    super(`invalid ${argument} (${value}): ${reason}`, 'ERR_INVALID_CLUSTER_ARGUMENT')
  }
}

/** A message or statement whose Ed25519 signature does not verify against the peer ID that must have signed it. */
export class InvalidSignatureError extends NetworkError {
  override readonly name = 'InvalidSignatureError'
  override readonly code = 'ERR_INVALID_CLUSTER_SIGNATURE'
  constructor(
    /** `message` (the envelope) or the statement kind, e.g. `alive statement about 12D3Koo…` */
    readonly what: string,
    /** the peer ID whose key should have signed it */
    readonly signer: string,
  ) {
    super(`bad signature on ${what}: not signed by ${signer}`, 'ERR_INVALID_CLUSTER_SIGNATURE')
  }
}
