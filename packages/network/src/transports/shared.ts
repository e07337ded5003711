/** Bits every built-in transport shares. */
import type { Upgrader } from '../interface.js'
import type { StackUpgrader } from '../upgrader.js'

/** True for the upgrader createNetwork()/createUpgrader() builds, which also takes libp2p MultiaddrConnections. */
export function isStackUpgrader(upgrader: Upgrader): upgrader is StackUpgrader {
  return typeof (upgrader as Partial<StackUpgrader>).upgradeMessageStream === 'function'
}
