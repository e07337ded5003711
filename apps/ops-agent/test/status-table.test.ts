import { describe, expect, it } from 'vitest'
import { collectStatus, type SystemStatus } from '../src/agent/status.js'
import { formatBytes, formatUptime, statusTable } from '../src/controller/status-table.js'

const GiB = 1024 ** 3

function status(host: string, over: Partial<SystemStatus> = {}): SystemStatus {
  return {
    hostname: host,
    os: { platform: 'linux', name: 'Debian GNU/Linux 12 (bookworm)', id: 'debian', version: '12' },
    kernel: { release: '6.1.0-18-amd64', version: '#1 SMP' },
    arch: 'x64',
    machine: 'x86_64',
    uptimeSeconds: 3 * 86_400 + 4 * 3_600 + 120,
    load: [0.5, 0.25, 0.125],
    cpu: { count: 4, model: 'Xeon', usePercent: 12.4, sampleMs: 250 },
    memory: {
      totalBytes: 16 * GiB,
      availableBytes: 12 * GiB,
      usedBytes: 4 * GiB,
      usePercent: 25,
      swapTotalBytes: 0,
      swapUsedBytes: 0,
    },
    disks: [
      {
        mount: '/',
        device: '/dev/sda1',
        fstype: 'ext4',
        sizeBytes: 100 * GiB,
        usedBytes: 40 * GiB,
        availableBytes: 60 * GiB,
        usePercent: 40,
      },
      {
        mount: '/var/lib/docker',
        device: '/dev/sdb1',
        fstype: 'xfs',
        sizeBytes: 500 * GiB,
        usedBytes: 450 * GiB,
        availableBytes: 50 * GiB,
        usePercent: 90,
      },
    ],
    interfaces: [
      {
        name: 'lo',
        mac: '00:00:00:00:00:00',
        internal: true,
        state: 'unknown',
        addresses: [{ family: 'IPv4', address: '127.0.0.1', cidr: '127.0.0.1/8' }],
      },
      {
        name: 'eth0',
        mac: '02:00:00:00:00:01',
        internal: false,
        state: 'up',
        addresses: [
          { family: 'IPv4', address: '10.0.0.7', cidr: '10.0.0.7/24' },
          { family: 'IPv6', address: 'fe80::1', cidr: 'fe80::1/64' },
          { family: 'IPv6', address: '2001:db8::7', cidr: '2001:db8::7/64' },
        ],
      },
    ],
    agentVersion: '0.1.0',
    collectedAt: 0,
    ...over,
  }
}

/** The start offset of each column in the header line. */
function columnStarts(header: string): number[] {
  return [...header.matchAll(/\S+/g)].map(m => m.index)
}

describe('status table', () => {
  it('renders one aligned line per host with the fullest disk and the routable addresses', () => {
    const text = statusTable([
      { host: 'web-10', status: status('web-10') },
      { host: 'web-2', status: status('web-2', { uptimeSeconds: 300, load: [12.5, 8, 4] }) },
    ])
    const lines = text.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^HOST\s+OS\s+KERNEL\s+ARCH\s+UP\s+LOAD\s+CPU\s+MEM\s+DISK\s+ADDRESSES\s+VERSION$/)
    // numeric host order: web-2 before web-10
    expect(lines[1]!.startsWith('web-2 ')).toBe(true)
    expect(lines[2]!.startsWith('web-10 ')).toBe(true)
    expect(lines[2]).toContain('debian 12')
    expect(lines[2]).toContain('3d4h')
    expect(lines[1]).toContain('5m')
    expect(lines[1]).toContain('12.50 8.00 4.00')
    expect(lines[2]).toContain('12% of 4')
    expect(lines[2]).toContain('25% of 16G')
    expect(lines[2]).toContain('/var/lib/docker 90% of 500G +1')
    expect(lines[2]).toContain('10.0.0.7,2001:db8::7')
    expect(lines[2]).not.toContain('fe80::1')
    expect(lines[2]).not.toContain('127.0.0.1')
    const starts = columnStarts(lines[0]!)
    for (const line of lines.slice(1, 3)) {
      for (const s of starts) {
        expect(line[s - 1] === undefined || line[s - 1] === ' ', `column at ${s} in "${line}"`).toBe(true)
        expect(line[s]).not.toBe(' ')
      }
    }
    expect(lines[3]).toBe('2 hosts: 2 answered')
  })

  it('keeps hosts without a status in the table with the reason, and counts them', () => {
    const text = statusTable([
      { host: 'db-1', status: status('db-1') },
      { host: 'a-very-long-host-name', status: null, reason: 'unreachable: no route' },
      { host: 'db-2', status: null },
    ])
    const lines = text.trimEnd().split('\n')
    expect(lines[1]).toBe('a-very-long-host-name  (unreachable: no route)')
    expect(lines[2]!.startsWith('db-1                   debian 12')).toBe(true)
    expect(lines[3]).toBe('db-2                   (no status)')
    expect(lines[4]).toBe('3 hosts: 1 answered, 2 did not')
  })

  it('renders this machine', async () => {
    const s = await collectStatus({ sampleMs: 10 })
    const text = statusTable([{ host: s.hostname, status: s }])
    expect(text).toContain(s.kernel.release)
    expect(text.split('\n')[1]!.startsWith(s.hostname)).toBe(true)
    expect(text.endsWith('1 host: 1 answered\n')).toBe(true)
    // the CLI prints its own summary line after the table, so it asks for none
    const bare = statusTable([{ host: s.hostname, status: s }], { countLine: false })
    expect(bare.trimEnd().split('\n')).toHaveLength(2)
  })

  it('formats bytes like df -h and uptime in two units', () => {
    expect(formatBytes(0)).toBe('0B')
    expect(formatBytes(1023)).toBe('1023B')
    expect(formatBytes(1024)).toBe('1.0K')
    expect(formatBytes(1536)).toBe('1.5K')
    expect(formatBytes(1024 * 1024 - 1)).toBe('1.0M')
    expect(formatBytes(25_276_514_304)).toBe('24G')
    expect(formatBytes(1.5 * GiB)).toBe('1.5G')
    expect(formatBytes(3 * 1024 ** 4)).toBe('3.0T')
    expect(formatUptime(45)).toBe('45s')
    expect(formatUptime(61)).toBe('1m')
    expect(formatUptime(3_600 * 5 + 60 * 7)).toBe('5h7m')
    expect(formatUptime(93_780)).toBe('1d2h')
  })
})
