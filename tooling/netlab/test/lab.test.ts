/**
 * The lab itself: topologies, namespaces and veths with benchmarking-range addresses only, link cuts, and teardown
 * in every way a run can end (destroy, SIGTERM, SIGKILL of the owner followed by the next lab's sweep).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createLab, hopsFrom, LAB_NET, MAX_HOSTS, sweepStale, topologyEdges } from '../src/index.js'
import { listNamespaces, namespacePids } from '../src/ip.js'
import { labFixture, NEEDS_ROOT, ROOT, sleep } from './helpers.js'

const fx = labFixture()

describe('topologies', () => {
  it('line, ring, tree and two sites joined by a bridge host', () => {
    expect(topologyEdges({ kind: 'line', hosts: 4 })).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ])
    expect(topologyEdges({ kind: 'ring', hosts: 4 })).toContainEqual([3, 0])
    const tree = topologyEdges({ kind: 'tree', hosts: 12, branching: 3 })
    expect(Math.max(...hopsFrom(tree, 12, 0))).toBe(2)
    expect(tree).toHaveLength(11)
    const sites = topologyEdges({ kind: 'sites', hosts: 7 })
    // the bridge (6) is the only way from one site (0–2) to the other (3–5)
    const withoutBridge = sites.filter(([a, b]) => a !== 6 && b !== 6)
    expect(hopsFrom(withoutBridge, 7, 0)[3]).toBe(-1)
    expect(hopsFrom(sites, 7, 0)[5]).toBe(6)
  })

  it('refuses sizes it cannot build', () => {
    expect(() => topologyEdges({ kind: 'line', hosts: 1 })).toThrow(RangeError)
    expect(() => topologyEdges({ kind: 'sites', hosts: 2 })).toThrow(/at least 3/)
    expect(() => topologyEdges({ kind: 'line', hosts: 100_000 })).toThrow(/256/)
  })
})

function inNet(ip: string): boolean {
  const n = ip.split('.').reduce((a, b) => a * 256 + Number(b), 0)
  return n >= LAB_NET.first >>> 0 && n < (LAB_NET.first >>> 0) + LAB_NET.size
}

describe.skipIf(!ROOT)(`lab hosts${NEEDS_ROOT}`, () => {
  it('builds hosts with 198.18.0.0/15 addresses only; links carry packets until cut', async () => {
    const lab = fx.lab({ hosts: 3, edges: topologyEdges({ kind: 'line', hosts: 3 }) })
    for (let h = 0; h < 3; h++) {
      const r = await lab.exec(h, ['ip', '-4', '-o', 'addr', 'show'])
      const addrs = [...r.stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)/g)].map(m => m[1]!)
      expect(addrs.filter(a => a !== '127.0.0.1').every(inNet)).toBe(true)
      expect(addrs.filter(a => a !== '127.0.0.1')).toEqual(lab.addrs(h))
      // no default route: nothing leaves the lab
      expect((await lab.exec(h, ['ip', 'route', 'show', 'default'])).stdout.trim()).toBe('')
    }
    // a TCP server on hosts 1 and 2 (no ping binary here), probed from host 0
    const serve = `require('net').createServer(s => s.end('hi')).listen(5000, '0.0.0.0', () => console.log('up'))`
    for (const h of [1, 2]) await lab.spawn(h, [process.execPath, '-e', serve]).waitFor(/up/, 10_000)
    const probe = async (addr: string): Promise<boolean> => {
      const js = `const s = require('net').connect(5000, '${addr}'); s.on('data', () => process.exit(0));
        s.on('error', () => process.exit(1)); setTimeout(() => process.exit(2), 1500)`
      return (await lab.exec(0, [process.execPath, '-e', js])).code === 0
    }
    expect(await probe(lab.addr(1, 0))).toBe(true)
    // not routed at the IP level: host 0 cannot reach host 2 except through the overlay
    expect(await probe(lab.addr(2, 1))).toBe(false)
    lab.cut(0, 1)
    expect(await probe(lab.addr(1, 0))).toBe(false)
    lab.restore(0, 1)
    expect(await probe(lab.addr(1, 0))).toBe(true)
  })

  it(`refuses more than MAX_HOSTS hosts and links outside 198.18.0.0/15`, () => {
    expect(() => createLab({ hosts: MAX_HOSTS + 1, edges: [] })).toThrow(RangeError)
    expect(() => createLab({ hosts: 2, edges: [[0, 2]] })).toThrow(/no host 2/)
    const tooMany = Array.from({ length: LAB_NET.size / 4 + 1 }, () => [0, 1] as const)
    expect(() => createLab({ hosts: 2, edges: tooMany })).toThrow(/198.18.0.0\/15/)
  })

  it('waiting for output gives up at its timeout, or as soon as the process exits, saying which', async () => {
    const lab = fx.lab({ hosts: 1, edges: [] })
    await expect(lab.spawn(0, ['sleep', '30']).waitFor(/never/, 300, 'a line')).rejects.toThrow(
      /no a line within 300 ms/,
    )
    await expect(
      lab.spawn(0, ['sh', '-c', 'echo oops >&2; exit 3']).waitFor(/never/, 10_000, 'a line'),
    ).rejects.toThrow(/exited before a line; stderr: oops/)
  })

  it('destroy kills every process in the hosts, orphans included, and removes the namespaces', async () => {
    const lab = createLab({ hosts: 2, edges: [[0, 1]] })
    const p = lab.spawn(0, ['sh', '-c', 'setsid sleep 300 & sleep 300'])
    await sleep(300)
    expect(namespacePids(lab.namespaces[0]!).length).toBeGreaterThanOrEqual(2)
    lab.destroy()
    await p.exited
    expect(listNamespaces().filter(n => n.startsWith(lab.id))).toEqual([])
    lab.destroy() // idempotent
  })

  const OWNER = fileURLToPath(new URL('./lab-owner.mjs', import.meta.url))

  it('a SIGTERMed owner tears its lab down on the way out', async () => {
    const owner = spawn(process.execPath, [OWNER, 'wait'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const id = await new Promise<string>(r => owner.stdout.once('data', d => r(String(d).trim())))
    expect(listNamespaces().some(n => n.startsWith(id))).toBe(true)
    owner.kill('SIGTERM')
    await new Promise(r => owner.once('exit', r))
    expect(listNamespaces().filter(n => n.startsWith(id))).toEqual([])
  })

  it('a SIGKILLed owner leaves its lab behind; the next lab sweeps it', async () => {
    const owner = spawn(process.execPath, [OWNER, 'wait'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const id = await new Promise<string>(r => owner.stdout.once('data', d => r(String(d).trim())))
    owner.kill('SIGKILL')
    await new Promise(r => owner.once('exit', r))
    expect(listNamespaces().some(n => n.startsWith(id))).toBe(true)
    const removed = sweepStale()
    expect(removed.filter(n => n.startsWith(id))).toHaveLength(3)
    expect(listNamespaces().filter(n => n.startsWith(id))).toEqual([])
  })
})
