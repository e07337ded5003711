export { createRng, type Rng } from './random.js'
export { DEFAULT_SIM_FAULTS, runSimulation, type SimFaults, type SimOptions, type SimResult } from './simulator.js'
