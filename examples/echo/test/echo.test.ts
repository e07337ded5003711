import { isQuicAvailable } from '@pnet/network'
import { describe, expect, it } from 'vitest'
import { echo, type TransportName } from '../src/echo.js'

const quicHere = await isQuicAvailable()
const names: TransportName[] = ['tcp', 'ws', 'memory', 'quic']

describe('the seed echo example', () => {
  for (const name of names) {
    const skip = name === 'quic' && !quicHere
    it.skipIf(skip)(
      `${name}: "hello" comes back as "hello world"${skip ? ' (skipped: the QUIC native module is not installed here)' : ''}`,
      async () => {
        expect(await echo(name)).toBe('hello world')
      },
    )
  }
})
