/**
 * What `ops-agent status` reports about a host: identity, OS and kernel, uptime and load, CPU count and use, memory,
 * disks, network interfaces, agent version. Read from node:os, /proc and statfs — no shelling out, so it costs a few
 * file reads and works on a host with a broken PATH. Every number is plain (bytes, seconds, percent) so the object
 * travels as JSON unchanged.
 */
import { readdir, readFile, statfs } from 'node:fs/promises'
import {
  arch,
  cpus,
  freemem,
  hostname,
  loadavg,
  machine,
  networkInterfaces,
  platform,
  release,
  totalmem,
  uptime,
  version,
} from 'node:os'
import { STATUS_CPU_SAMPLE_MS } from '../limits.js'
import { OPS_VERSION } from '../protocol/reports.js'

/** One mounted filesystem. */
export interface DiskStatus {
  mount: string
  device: string
  fstype: string
  sizeBytes: number
  usedBytes: number
  /** what an unprivileged user can still write (root may have more: the reserved blocks) */
  availableBytes: number
  /** used / (used + available), as `df` computes Use% */
  usePercent: number
}

/** One network interface and its addresses. */
export interface InterfaceStatus {
  name: string
  mac: string
  internal: boolean
  /** `up`, `down`, `unknown` … from /sys/class/net/NAME/operstate; null when not known */
  state: string | null
  addresses: { family: 'IPv4' | 'IPv6'; address: string; cidr: string | null }[]
}

/** A host's status, as collected by its agent. */
export interface SystemStatus {
  hostname: string
  os: {
    /** node's platform: linux, darwin, freebsd … */
    platform: string
    /** distribution name, e.g. "Debian GNU/Linux 12 (bookworm)", from /etc/os-release; else the platform */
    name: string
    /** distribution ID and version, e.g. "debian" and "12"; null when not known */
    id: string | null
    version: string | null
  }
  kernel: { release: string; version: string }
  /** node's arch (x64, arm64) and the machine's (x86_64, aarch64) */
  arch: string
  machine: string
  uptimeSeconds: number
  /** 1, 5 and 15 minute load averages */
  load: [number, number, number]
  cpu: {
    count: number
    model: string
    /** busy share of all CPUs over the sample, 0–100 */
    usePercent: number
    sampleMs: number
  }
  memory: {
    totalBytes: number
    /** what new work can get without swapping (MemAvailable) */
    availableBytes: number
    usedBytes: number
    usePercent: number
    swapTotalBytes: number
    swapUsedBytes: number
  }
  disks: DiskStatus[]
  interfaces: InterfaceStatus[]
  agentVersion: string
  /** epoch ms */
  collectedAt: number
}

/** Filesystems that hold no data of their own: kernel views, memory-backed, or containers of other mounts. */
const PSEUDO_FS = new Set([
  'autofs',
  'binfmt_misc',
  'bpf',
  'cgroup',
  'cgroup2',
  'configfs',
  'debugfs',
  'devpts',
  'devtmpfs',
  'efivarfs',
  'fusectl',
  'hugetlbfs',
  'mqueue',
  'nsfs',
  'proc',
  'pstore',
  'ramfs',
  'rpc_pipefs',
  'securityfs',
  'selinuxfs',
  'squashfs',
  'sysfs',
  'tmpfs',
  'tracefs',
])

const round1 = (n: number) => Math.round(n * 10) / 10
const round2 = (n: number) => Math.round(n * 100) / 100

/** Undoes the octal escapes (`\040` for a space) of /proc/mounts and mountinfo. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)))
}

interface Mount {
  device: string
  devno: string
  root: string
  mount: string
  fstype: string
}

/**
 * Mounts from /proc/self/mountinfo (which tells bind mounts apart: their root is not `/`), or /proc/mounts.
 */
async function mounts(): Promise<Mount[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => undefined)
  if (info !== undefined) {
    return info
      .split('\n')
      .filter(l => l !== '')
      .flatMap(l => {
        // id parent major:minor root mount options [optional…] - fstype source superoptions
        const [left = '', right = ''] = l.split(' - ')
        const f = left.split(' ')
        const r = right.split(' ')
        if (f.length < 5 || r.length < 2) return []
        return [
          {
            devno: f[2]!,
            root: unescapeMount(f[3]!),
            mount: unescapeMount(f[4]!),
            fstype: r[0]!,
            device: unescapeMount(r[1]!),
          },
        ]
      })
  }
  const text = await readFile('/proc/mounts', 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter(l => l !== '')
    .map(l => {
      const [device = '', mount = '', fstype = ''] = l.split(' ')
      return { device: unescapeMount(device), devno: device, root: '/', mount: unescapeMount(mount), fstype }
    })
}

/**
 * Real filesystems, one entry per filesystem the way `df` shows them: pseudo filesystems skipped, and a filesystem
 * mounted more than once (bind mounts) shown once, at its whole-filesystem mount with the shortest path.
 */
async function disks(): Promise<DiskStatus[]> {
  const best = new Map<string, Mount>()
  for (const m of await mounts()) {
    if (PSEUDO_FS.has(m.fstype)) continue
    const seen = best.get(m.devno)
    const better =
      seen === undefined ||
      (m.root === '/' && seen.root !== '/') ||
      ((m.root === '/') === (seen.root === '/') && m.mount.length < seen.mount.length)
    if (better) best.set(m.devno, m)
  }
  const out: DiskStatus[] = []
  for (const m of best.values()) {
    const s = await statfs(m.mount).catch(() => undefined)
    if (s === undefined || s.blocks === 0) continue
    const size = s.blocks * s.bsize
    const used = (s.blocks - s.bfree) * s.bsize
    const available = s.bavail * s.bsize
    out.push({
      mount: m.mount,
      device: m.device,
      fstype: m.fstype,
      sizeBytes: size,
      usedBytes: used,
      availableBytes: available,
      usePercent: used + available === 0 ? 0 : round1((used / (used + available)) * 100),
    })
  }
  return out.sort((a, b) => a.mount.localeCompare(b.mount))
}

async function osRelease(): Promise<Record<string, string>> {
  const text =
    (await readFile('/etc/os-release', 'utf8').catch(() => undefined)) ??
    (await readFile('/usr/lib/os-release', 'utf8').catch(() => ''))
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim())
    if (m === null) continue
    out[m[1]!] = m[2]!.replace(/^(["'])(.*)\1$/, '$2').replace(/\\(.)/g, '$1')
  }
  return out
}

async function memory(): Promise<SystemStatus['memory']> {
  const text = await readFile('/proc/meminfo', 'utf8').catch(() => undefined)
  const kb = (name: string): number | undefined => {
    const m = text === undefined ? null : new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)
    return m === null ? undefined : Number(m[1]) * 1024
  }
  const total = kb('MemTotal') ?? totalmem()
  const available = kb('MemAvailable') ?? freemem()
  const swapTotal = kb('SwapTotal') ?? 0
  return {
    totalBytes: total,
    availableBytes: available,
    usedBytes: total - available,
    usePercent: total === 0 ? 0 : round1(((total - available) / total) * 100),
    swapTotalBytes: swapTotal,
    swapUsedBytes: swapTotal - (kb('SwapFree') ?? swapTotal),
  }
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0
  let total = 0
  for (const c of cpus()) {
    const t = c.times
    const all = t.user + t.nice + t.sys + t.idle + t.irq
    total += all
    busy += all - t.idle
  }
  return { busy, total }
}

async function interfaces(): Promise<InterfaceStatus[]> {
  const out: InterfaceStatus[] = []
  const withAddrs = networkInterfaces()
  // node lists only interfaces that have an address; /sys/class/net also has the ones that are down or unconfigured
  const all = new Set([...Object.keys(withAddrs), ...(await readdir('/sys/class/net').catch(() => []))])
  for (const name of all) {
    const addrs = withAddrs[name] ?? []
    const mac =
      addrs[0]?.mac ??
      (await readFile(`/sys/class/net/${name}/address`, 'utf8').then(
        s => s.trim(),
        () => '00:00:00:00:00:00',
      ))
    const state = await readFile(`/sys/class/net/${name}/operstate`, 'utf8').then(
      s => s.trim(),
      () => null,
    )
    out.push({
      name,
      mac,
      internal: addrs.length > 0 && addrs.every(a => a.internal),
      state,
      addresses: addrs.map(a => ({ family: a.family, address: a.address, cidr: a.cidr })),
    })
  }
  return out.sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * Collects this host's status. CPU use is measured over `sampleMs` (the other readings run meanwhile).
 *
 * @example
 * ```ts
 * const s = await collectStatus()
 * console.log(`${s.hostname}: ${s.cpu.count} CPUs at ${s.cpu.usePercent}%, ${s.disks.length} disks`)
 * ```
 */
export async function collectStatus(opts: { sampleMs?: number; agentVersion?: string } = {}): Promise<SystemStatus> {
  const sampleMs = opts.sampleMs ?? STATUS_CPU_SAMPLE_MS
  const before = cpuTimes()
  const sample = new Promise<void>(r => setTimeout(r, sampleMs))
  const [rel, mem, disk, nics] = await Promise.all([osRelease(), memory(), disks(), interfaces()])
  await sample
  const after = cpuTimes()
  const total = after.total - before.total
  const cpuList = cpus()
  const [l1 = 0, l5 = 0, l15 = 0] = loadavg()
  return {
    hostname: hostname(),
    os: {
      platform: platform(),
      name: rel.PRETTY_NAME ?? rel.NAME ?? platform(),
      id: rel.ID ?? null,
      version: rel.VERSION_ID ?? null,
    },
    kernel: { release: release(), version: version() },
    arch: arch(),
    machine: machine(),
    uptimeSeconds: Math.round(uptime()),
    load: [round2(l1), round2(l5), round2(l15)],
    cpu: {
      count: cpuList.length,
      model: cpuList[0]?.model.trim() ?? 'unknown',
      usePercent: total <= 0 ? 0 : round1(Math.min(100, Math.max(0, ((after.busy - before.busy) / total) * 100))),
      sampleMs,
    },
    memory: mem,
    disks: disk,
    interfaces: nics,
    agentVersion: opts.agentVersion ?? OPS_VERSION,
    collectedAt: Date.now(),
  }
}

/**
 * `collectStatus` with the agent's version as first argument (what the agent's `status` job calls).
 *
 * @example
 * ```ts
 * const s = await hostStatus('0.1.0')
 * ```
 */
export function hostStatus(agentVersion: string = OPS_VERSION, sampleMs?: number): Promise<SystemStatus> {
  return collectStatus({ agentVersion, ...(sampleMs !== undefined ? { sampleMs } : {}) })
}
