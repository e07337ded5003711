/**
 * The error convention (errorConvention in @pnet/network/testing) on every error class this package exports.
 */
import { errorConvention } from '@pnet/network/testing'
import * as api from '../src/index.js'

/** constructor arguments for each exported error class; a new class without an entry fails */
const samples: Record<string, unknown[]> = {
  MalformedMessageError: ['relay OPEN', 'kind 0x7f'],
  NoRouteError: ['12D3KooA'],
  RelayRefusedError: ['12D3KooA', '12D3KooB', 'NO_ROUTE', 'no route'],
  RelayBrokenError: ['12D3KooA', '12D3KooB', 'link lost'],
  RouterLimitError: ['maxBroadcastBytes', 'broadcast of 2 MiB'],
  InvalidDestinationError: ['12D3KooA', 'that is us'],
  RouterStoppedError: ['openStream'],
}

errorConvention('@pnet/router', api as Record<string, unknown>, samples, new URL('../README.md', import.meta.url))
