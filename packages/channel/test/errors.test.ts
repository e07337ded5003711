/**
 * The error convention (errorConvention in @pnet/network/testing) on every error class this package exports.
 */

import { errorConvention } from '@pnet/network/testing'
import * as api from '../src/index.js'

/** constructor arguments for each exported error class; a new class without an entry fails */
const samples: Record<string, unknown[]> = {
  ChannelError: ['something failed', 'ERR_CHANNEL_CLOSED', '/pnet/echo', '12D3KooA'],
  NoSuchChannelError: ['/pnet/echo', '12D3KooA'],
  VersionUnsupportedError: ['/pnet/echo', '12D3KooA', { min: 3, max: 4 }, [{ min: 1, max: 2 }]],
  UnauthorizedError: ['/pnet/echo', '12D3KooA', 'not on the allowlist'],
  OverloadedError: ['/pnet/echo', '12D3KooA'],
  ChannelHandshakeTimeoutError: ['/pnet/echo', '12D3KooA', 10_000],
  ChannelProtocolError: ['/pnet/echo', '12D3KooA', 'bad frame'],
  ChannelAbortedError: ['/pnet/echo', '12D3KooA'],
  ChannelClosedError: ['/pnet/echo', '12D3KooA', 'stream reset by the remote'],
  MessageTooLargeError: ['/pnet/echo', '12D3KooA', 11, 10, 'send'],
  RemoteError: ['/pnet/echo', '12D3KooA', 'TypeError', 'bad argument', 'E_ARG'],
  DuplicateChannelError: ['/pnet/echo'],
  UnsupportedRequestError: ['/pnet/echo', '12D3KooA', 'streams'],
  CapabilityError: ['expired'],
}

errorConvention('@pnet/channel', api as Record<string, unknown>, samples, new URL('../README.md', import.meta.url))
