/**
 * Push tree streams on in-process agents (a line root → relay → leaf, the controller joined at the root): a relay
 * that alters the bytes it forwards is caught by the leaf's sha256 check and every host is still reported; a relay
 * that stalls is cut off without holding the others back; a relay without the push tree channel (an older agent) gets the file, and passes it on, as chunk broadcasts; the wire
 * codec round-trips.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey, type PrivateKey, peerIdFromKey, tcp } from '@pnet/network'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Agent, startAgent } from '../src/agent/agent.js'
import { decodePushTreeHeader, encodePushTreeHeader, PUSH_TREE_CHANNEL, stallMs } from '../src/agent/push-tree.js'
import { type Fleet, joinFleet, waitForRoutes } from '../src/controller/fleet.js'
import { pushFile } from '../src/controller/push.js'
import { parseSelectors } from '../src/controller/selector.js'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('push tree streams', { timeout: 90_000 }, () => {
  let dir: string
  let ctlKey: PrivateKey
  const agents: Agent[] = []
  let fleet: Fleet
  const names = ['root', 'relay', 'leaf']

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ops-push-tree-'))
    ctlKey = await generateKey()
    const trust = [peerIdFromKey(ctlKey).toString()]
    for (let i = 0; i < 3; i++) {
      agents.push(
        await startAgent({
          dataDir: join(dir, `a${i}`),
          listen: ['tcp://127.0.0.1:0'],
          join: i === 0 ? [] : [agents[i - 1]!.node.addrs[0]!.toString()],
          tags: { hostname: names[i]!, role: i === 1 ? 'relay' : 'end' },
          trust,
          transports: [tcp()],
        }),
      )
    }
    expect(await waitForRoutes(agents[0]!.node, [agents[2]!.node.id], { timeoutMs: 10_000 })).toEqual([])
    fleet = await joinFleet({
      key: ctlKey,
      via: agents[0]!.node.addrs[0]!.toString(),
      transports: [tcp()],
      expect: agents.map(a => a.node.id),
    })
    await mkdir(join(dir, 'out'))
  })
  afterAll(async () => {
    await fleet?.close()
    await Promise.all(agents.map(a => a.stop()))
    await rm(dir, { recursive: true, force: true })
  })

  it('encodes and decodes a header', () => {
    const h = {
      jobId: 'ab'.repeat(16),
      size: 2 ** 40 + 3,
      timeoutMs: 120_000,
      hop: 2,
      targets: ['12D3KooA', '12D3KooB'],
    }
    const bytes = encodePushTreeHeader(h)
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)).toBe(bytes.byteLength - 4)
    expect(decodePushTreeHeader(bytes.subarray(4))).toEqual(h)
    expect(() => decodePushTreeHeader(bytes.subarray(4, bytes.byteLength - 1))).toThrow(/truncated/)
  })

  it('pushes through the relay to every host byte-exact', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const local = join(dir, 'ok.bin')
    await writeFile(local, data)
    const run = await pushFile({
      key: ctlKey,
      fleet,
      selectors: parseSelectors(['*']),
      local,
      remote: join(dir, 'out', 'ok-{host}.bin'),
      timeoutMs: 30_000,
    })
    expect(run.summary).toMatchObject({ targeted: 3, ok: 3 })
    for (const n of names) expect(sha(await readFile(join(dir, 'out', `ok-${n}.bin`)))).toBe(sha(data))
  })

  it('a relay that alters a byte it forwards: the leaf refuses the file, every host is reported', async () => {
    const relay = agents[1]!
    const leaf = agents[2]!
    // a hostile relay: passes the header on untouched, flips one byte of the file, carries the answers back
    relay.node.unhandle(PUSH_TREE_CHANNEL)
    relay.node.handle(PUSH_TREE_CHANNEL, async stream => {
      const down = (await relay.node.openStream(leaf.node.id, PUSH_TREE_CHANNEL)).stream
      let seen = 0
      const FLIP_AT = 100_000
      async function* altered(): AsyncGenerator<Uint8Array> {
        for await (const chunk of stream.source) {
          const copy = Uint8Array.from(chunk)
          if (seen <= FLIP_AT && FLIP_AT < seen + copy.byteLength) copy[FLIP_AT - seen]! ^= 0xff
          seen += copy.byteLength
          yield copy
        }
      }
      await Promise.all([down.sink(altered()), stream.sink(down.source)])
    })
    try {
      const data = randomBytes(1024 * 1024)
      const local = join(dir, 'bad.bin')
      await writeFile(local, data)
      // the relay is not a target: the root's stream to it names only the leaf
      const run = await pushFile({
        key: ctlKey,
        fleet,
        selectors: parseSelectors(['role=end']),
        local,
        remote: join(dir, 'out', 'bad-{host}.bin'),
        timeoutMs: 30_000,
      })
      expect(run.summary).toMatchObject({ targeted: 2, ok: 1, failed: 1 })
      const byPeer = new Map(run.results.map(r => [r.peer, r]))
      expect(byPeer.get(agents[0]!.node.id.toString())?.status).toBe('ok')
      const bad = byPeer.get(leaf.node.id.toString())
      expect(bad?.status).toBe('failed')
      expect(`${bad?.reason ?? ''} ${bad?.stderr ?? ''}`).toMatch(/sha256 mismatch/)
      expect(sha(await readFile(join(dir, 'out', 'bad-root.bin')))).toBe(sha(data))
      expect(existsSync(join(dir, 'out', 'bad-leaf.bin'))).toBe(false)
      expect((await readdir(join(dir, 'out'))).filter(f => f.endsWith('.part'))).toEqual([])
    } finally {
      relay.node.unhandle(PUSH_TREE_CHANNEL)
    }
  })

  it('a relay that takes the stream and then stalls is cut off: the others get the file, every host reported', async () => {
    const relay = agents[1]!
    relay.node.unhandle(PUSH_TREE_CHANNEL)
    // reads nothing, answers nothing, never closes
    relay.node.handle(PUSH_TREE_CHANNEL, () => new Promise<void>(() => {}))
    try {
      // more than the link and the hop's queue hold, so the stall shows while bytes are still going out
      const data = randomBytes(16 * 1024 * 1024)
      const local = join(dir, 'stall.bin')
      await writeFile(local, data)
      const run = await pushFile({
        key: ctlKey,
        fleet,
        selectors: parseSelectors(['role=end']),
        local,
        remote: join(dir, 'out', 'stall-{host}.bin'),
        timeoutMs: 30_000,
      })
      expect(run.summary.targeted).toBe(2)
      const byPeer = new Map(run.results.map(r => [r.peer, r]))
      // the root was held back only until the stalled child was cut off, not until the 30 s deadline (the run
      // itself lasts until the leaf's job gives up waiting: nothing tells it that its relay is stuck)
      const root = byPeer.get(agents[0]!.node.id.toString())
      expect(root?.status).toBe('ok')
      expect(root?.durationMs).toBeLessThan(stallMs(2) + 8_000)
      expect(byPeer.get(agents[2]!.node.id.toString())?.status).toBe('failed')
      expect(sha(await readFile(join(dir, 'out', 'stall-root.bin')))).toBe(sha(data))
      expect(existsSync(join(dir, 'out', 'stall-leaf.bin'))).toBe(false)
    } finally {
      relay.node.unhandle(PUSH_TREE_CHANNEL)
    }
  })

  it('a relay without the push tree channel: it and the host below it get the file as chunk broadcasts', async () => {
    // the previous tests left the relay without the channel, as an agent from before push tree streams is
    expect(agents[1]!.node.channels.channels()).not.toContain(PUSH_TREE_CHANNEL)
    const data = randomBytes(2 * 1024 * 1024 + 5)
    const local = join(dir, 'old.bin')
    await writeFile(local, data)
    const run = await pushFile({
      key: ctlKey,
      fleet,
      selectors: parseSelectors(['*']),
      local,
      remote: join(dir, 'out', 'old-{host}.bin'),
      timeoutMs: 30_000,
    })
    expect(run.summary).toMatchObject({ targeted: 3, ok: 3 })
    for (const n of names) expect(sha(await readFile(join(dir, 'out', `old-${n}.bin`)))).toBe(sha(data))
    // the root got it as a stream, the other two as chunks: the file went out twice (once per way)
    expect(run.bytesSent).toBe(2 * data.byteLength)
  })
})
