import { describe, expect, it } from 'vitest'
import { groupedOutput, type HostResult, hostList, LivePrinter, summaryLine } from '../src/index.js'

const result = (
  host: string,
  stdout: string,
  status: HostResult['status'] = 'ok',
  extra: Partial<HostResult> = {},
): HostResult => ({
  peer: `p-${host}`,
  host,
  status,
  exitCode: status === 'ok' ? 0 : 1,
  signal: null,
  stdout,
  stderr: '',
  durationMs: 5,
  ...extra,
})

describe('output', () => {
  it('compresses host lists like pdsh', () => {
    expect(hostList(['web-1', 'web-2', 'web-3', 'db-1'])).toBe('db-1,web-[1-3]')
    expect(hostList(['n1', 'n2', 'n3', 'n7', 'n9', 'n10'])).toBe('n[1-3,7,9-10]')
    expect(hostList(['a01', 'a02', 'x'])).toBe('a[01-02],x')
  })

  it('groups identical outputs with their hosts (dshbak -c)', () => {
    const text = groupedOutput([result('web-1', 'same\n'), result('web-2', 'same\n'), result('db-1', 'other\n')])
    expect(text).toBe(
      [
        '----------------',
        'web-[1-2] (2)',
        '----------------',
        'same',
        '----------------',
        'db-1 (1)',
        '----------------',
        'other',
        '',
      ].join('\n'),
    )
  })

  it('prints live lines per host, completing partial lines at the end, stdout and stderr apart', () => {
    const out: string[] = []
    const err: string[] = []
    const p = new LivePrinter({ stdout: t => out.push(t), stderr: t => err.push(t), isTTY: false })
    p.targets(2)
    p.output('a', 'stdout', 'one\ntw')
    p.output('a', 'stderr', 'warn\n')
    p.output('a', 'stdout', 'o\nthree')
    p.done(result('a', ''))
    expect(out.join('')).toBe('a: one\na: two\na: three\n')
    expect(err.join('')).toBe('a: warn\n')
  })

  it('sums up with the hosts that were not ok and why', () => {
    const results = [
      result('a', ''),
      result('b', '', 'failed', { exitCode: 2 }),
      result('c', '', 'unreachable', { reason: 'no route' }),
    ]
    const line = summaryLine(
      { targeted: 3, ok: 1, failed: 1, timeout: 0, unreachable: 1, refused: 0, cancelled: 0 },
      results,
      1234,
    )
    expect(line).toBe(
      '3 hosts: 1 ok, 1 failed, 1 unreachable in 1.23 s\n  failed: b (exit 2)\n  unreachable: c (no route)\n',
    )
  })
})
