/**
 * The logger handed to the libp2p components we build on (@chainsafe/libp2p-noise, multistream-select, @libp2p/tcp,
 * QUIC). Theirs is `debug`-based and prints nothing unless DEBUG is set, yet creating one costs an isatty() call and
 * a few objects, and they create several per connection: under a connection flood that was ~5% of the node's CPU.
 * So unless DEBUG is set, they get a logger that does nothing and costs nothing.
 */
import type { ComponentLogger, Logger } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'

const noop = (): void => {}
const silent: Logger = Object.assign(noop.bind(undefined), {
  error: noop,
  trace: noop,
  enabled: false,
  newScope: (): Logger => silent,
})
const silentComponents: ComponentLogger = { forComponent: () => silent }

/**
 * `defaultLogger()` from @libp2p/logger when DEBUG is set (to trace the libp2p internals), else a silent one.
 *
 * @example
 * ```ts
 * const lib = libp2pTcp({})({ logger: libp2pLogger() })
 * ```
 */
export function libp2pLogger(): ComponentLogger {
  return process.env.DEBUG ? defaultLogger() : silentComponents
}
