/**
 * The channels the router speaks, all with the pnet channel header (docs/protocol/channel.md) at version 1.
 * Their payloads are specified in docs/protocol/router.md.
 */

/** Routing updates, requests, digests and hellos between neighbours; one stream per direction per link. */
export const CONTROL_CHANNEL = '/pnet/router/control'
/** A relayed stream: OPEN, STATUS, then the end-to-end Noise session's bytes. */
export const RELAY_CHANNEL = '/pnet/router/relay'
/** One broadcast to one child of the delivery tree, and its report. */
export const BROADCAST_CHANNEL = '/pnet/router/broadcast'

export const ROUTER_PROTOCOL_VERSION = 1
