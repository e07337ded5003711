/** Errors of @pnet/fleet: a stable `name` and `code`, a message naming the agent, process or option involved. */

/** A bad option to startFleet (count, topology, branching, agentsPerProcess…). */
export class FleetConfigError extends Error {
  readonly code = 'ERR_FLEET_CONFIG'
  constructor(message: string) {
    super(message)
    this.name = 'FleetConfigError'
  }
}

/** An agent or worker process did not come up (it exited, failed, or took too long); the fleet was torn down. */
export class FleetStartError extends Error {
  readonly code = 'ERR_FLEET_START'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'FleetStartError'
  }
}

/** The agents came up but routes to all of them did not appear at the root in time. */
export class FleetConvergeError extends Error {
  readonly code = 'ERR_FLEET_CONVERGE'
  constructor(message: string) {
    super(message)
    this.name = 'FleetConvergeError'
  }
}
