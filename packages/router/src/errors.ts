/**
 * Errors of @pnet/router. Like those of @pnet/network (which they extend), each has a stable `name` and `code` and a
 * message naming the peer involved.
 *
 * @example
 * ```ts
 * try { await router.openStream(peer, '/pnet/echo/1') } catch (err) {
 *   if (err instanceof NoRouteError) console.error(`${err.destination} is not reachable`)
 *   if (err instanceof RelayRefusedError) console.error(`${err.refusedBy} refused: ${err.reason}`)
 * }
 * ```
 */
import { NetworkError } from '@pnet/network'

/** A control, relay or broadcast message that does not parse. The peer that sent it is cut off. */
export class MalformedMessageError extends NetworkError {
  override readonly name = 'MalformedMessageError' as const
  constructor(
    readonly what: string,
    reason: string,
  ) {
    super(`malformed ${what}: ${reason}`, 'ERR_MALFORMED_MESSAGE')
  }
}

/** No route to the destination (it is not in the routing table, or the route was withdrawn). */
export class NoRouteError extends NetworkError {
  override readonly name = 'NoRouteError' as const
  constructor(
    readonly destination: string,
    detail = 'not in the routing table',
  ) {
    super(`no route to ${destination}: ${detail}`, 'ERR_NO_ROUTE')
  }
}

/** Why a relay refused a stream; the wire status codes of the relay protocol (docs/protocol/router.md). */
export type RelayRefusal =
  | 'NO_ROUTE'
  | 'HOP_LIMIT'
  | 'TOO_MANY_RELAYED'
  | 'TOO_MANY_CONNECTIONS'
  | 'LOOP'
  | 'MALFORMED'
  | 'NEXT_HOP_FAILED'
  | 'STOPPING'

/** A node on the path refused to relay (or, at the far end, to accept) the stream. */
export class RelayRefusedError extends NetworkError {
  override readonly name = 'RelayRefusedError' as const
  constructor(
    readonly destination: string,
    readonly refusedBy: string,
    readonly reason: RelayRefusal,
    detail: string,
  ) {
    super(`relayed stream to ${destination} refused by ${refusedBy} (${reason}): ${detail}`, 'ERR_RELAY_REFUSED')
  }
}

/** A relayed connection broke after it was set up: a link on its path died or a relay gave up. */
export class RelayBrokenError extends NetworkError {
  override readonly name = 'RelayBrokenError' as const
  constructor(
    readonly destination: string,
    readonly via: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`relayed connection to ${destination} via ${via} broke: ${reason}`, 'ERR_RELAY_BROKEN', options)
  }
}

/** A request the router's limits do not allow (a broadcast too large, too many targets). */
export class RouterLimitError extends NetworkError {
  override readonly name = 'RouterLimitError' as const
  constructor(
    readonly limit: string,
    detail: string,
  ) {
    super(`${detail} (limits.${limit})`, 'ERR_ROUTER_LIMIT')
  }
}

/** A destination that makes no sense (ourselves, for a stream). */
export class InvalidDestinationError extends NetworkError {
  override readonly name = 'InvalidDestinationError' as const
  constructor(destination: string, reason: string) {
    super(`invalid destination ${destination}: ${reason}`, 'ERR_INVALID_DESTINATION')
  }
}

/** The router was stopped. */
export class RouterStoppedError extends NetworkError {
  override readonly name = 'RouterStoppedError' as const
  constructor(what: string) {
    super(`${what}: the router is stopped`, 'ERR_ROUTER_STOPPED')
  }
}
