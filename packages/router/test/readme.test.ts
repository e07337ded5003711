/**
 * Every ```ts block of the README runs, as a user would run it (readmeExamples in @pnet/network/testing); a block
 * that is not a whole program says why in its fence, ```ts no-run: <why>.
 */
import { readmeExamples } from '@pnet/network/testing'

readmeExamples('@pnet/router', new URL('..', import.meta.url))
