/**
 * Every ```ts block of the README runs, as a user would run it (readmeExamples in @pnet/network/testing); a block
 * that is not a whole program says why in its fence, ```ts no-run: <why>.
 */
import { readmeExamples } from '../src/testing/index.js'

readmeExamples('@pnet/network', new URL('..', import.meta.url))
