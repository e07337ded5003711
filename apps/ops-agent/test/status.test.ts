/**
 * Host status against this machine, cross-checked with the tools an operator would use (uname, nproc, df, ip).
 */
import { execFileSync, spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { collectStatus, hostStatus } from '../src/agent/status.js'
import { STATUS_CPU_SAMPLE_MS } from '../src/limits.js'
import { OPS_VERSION } from '../src/protocol/reports.js'

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' }).trim()

describe('host status', () => {
  it('names the host, OS, kernel and architecture as uname and os-release do', async () => {
    const s = await collectStatus()
    expect(s.hostname).toBe(sh('uname', ['-n']))
    expect(s.kernel.release).toBe(sh('uname', ['-r']))
    expect(s.kernel.version).toBe(sh('uname', ['-v']))
    expect(s.machine).toBe(sh('uname', ['-m']))
    expect(s.os.platform).toBe('linux')
    const rel = await readFile('/etc/os-release', 'utf8')
    expect(rel).toContain(`PRETTY_NAME="${s.os.name}"`)
    expect(rel).toMatch(new RegExp(`^ID=${s.os.id}$`, 'm'))
    expect(s.agentVersion).toBe(OPS_VERSION)
    expect(s.cpu.sampleMs).toBe(STATUS_CPU_SAMPLE_MS)
    expect(Math.abs(s.collectedAt - Date.now())).toBeLessThan(60_000)
  })

  it('reports uptime, load, CPU count and memory within what /proc says', async () => {
    const s = await collectStatus({ sampleMs: 50 })
    const procUptime = Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0])
    expect(Math.abs(s.uptimeSeconds - procUptime)).toBeLessThan(5)
    expect(s.load).toHaveLength(3)
    for (const l of s.load) expect(l).toBeGreaterThanOrEqual(0)
    expect(s.cpu.count).toBe(Number(sh('nproc', ['--all'])))
    expect(s.cpu.model).not.toBe('')
    expect(s.cpu.usePercent).toBeGreaterThanOrEqual(0)
    expect(s.cpu.usePercent).toBeLessThanOrEqual(100)
    const meminfo = await readFile('/proc/meminfo', 'utf8')
    const total = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)![1]) * 1024
    expect(s.memory.totalBytes).toBe(total)
    expect(s.memory.availableBytes).toBeGreaterThan(0)
    expect(s.memory.availableBytes).toBeLessThanOrEqual(total)
    expect(s.memory.usedBytes + s.memory.availableBytes).toBe(total)
    expect(s.memory.swapUsedBytes).toBeLessThanOrEqual(s.memory.swapTotalBytes)
  })

  it('sees a busy CPU as busy', async () => {
    const spinner = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' })
    try {
      await new Promise(r => setTimeout(r, 100))
      const s = await collectStatus({ sampleMs: 500 })
      // one spinning process keeps one CPU busy: at least 1/count of the machine, less scheduling noise
      expect(s.cpu.usePercent).toBeGreaterThan((100 / s.cpu.count) * 0.6)
    } finally {
      spinner.kill('SIGKILL')
    }
  })

  it('lists real disks like df does, without pseudo filesystems or bind-mount duplicates', async () => {
    const s = await collectStatus({ sampleMs: 10 })
    const root = s.disks.find(d => d.mount === '/')
    expect(root).toBeDefined()
    const [, size, used, avail] = sh('df', ['-B1', '--output=target,size,used,avail', '/'])
      .split('\n')[1]!
      .trim()
      .split(/\s+/)
    expect(root!.sizeBytes).toBe(Number(size))
    // other processes write to the disk meanwhile
    expect(Math.abs(root!.usedBytes - Number(used))).toBeLessThan(512 * 1024 * 1024)
    expect(Math.abs(root!.availableBytes - Number(avail))).toBeLessThan(512 * 1024 * 1024)
    expect(root!.usePercent).toBeGreaterThan(0)
    expect(root!.usePercent).toBeLessThanOrEqual(100)
    for (const d of s.disks) {
      expect(['proc', 'sysfs', 'tmpfs', 'devtmpfs', 'cgroup', 'cgroup2', 'devpts', 'nsfs']).not.toContain(d.fstype)
      expect(d.usedBytes).toBeLessThanOrEqual(d.sizeBytes)
    }
    const devices = s.disks.map(d => d.device)
    expect(new Set(devices).size).toBe(devices.length)
    expect(s.disks.map(d => d.mount)).not.toContain('/proc')
  })

  it('lists every interface with its addresses, as ip does', async () => {
    const s = await collectStatus({ sampleMs: 10 })
    const ip = JSON.parse(sh('ip', ['-j', 'address', 'show'])) as {
      ifname: string
      address?: string
      addr_info: { local: string; prefixlen: number; family: string }[]
    }[]
    expect(s.interfaces.map(i => i.name).sort()).toEqual(ip.map(i => i.ifname).sort())
    for (const link of ip) {
      const mine = s.interfaces.find(i => i.name === link.ifname)!
      if (link.address !== undefined) expect(mine.mac).toBe(link.address)
      const theirs = link.addr_info.map(a => `${a.local}/${a.prefixlen}`).sort()
      expect(mine.addresses.map(a => a.cidr).sort()).toEqual(theirs)
    }
    const lo = s.interfaces.find(i => i.name === 'lo')!
    expect(lo.internal).toBe(true)
    expect(lo.addresses.map(a => a.address)).toContain('127.0.0.1')
  })

  it('travels as JSON unchanged, and hostStatus takes the agent version', async () => {
    const s = await hostStatus('9.9.9', 10)
    expect(s.agentVersion).toBe('9.9.9')
    expect(JSON.parse(JSON.stringify(s))).toEqual(s)
  })
})
