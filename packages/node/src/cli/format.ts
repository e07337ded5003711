/** Text output of the pnet CLI: aligned tables, short peer IDs, ages. */

/**
 * Left-aligned columns separated by two spaces.
 *
 * @example
 * ```ts
 * table(['PEER', 'HOPS'], [['12D3…', '2']])
 * ```
 */
export function table(head: string[], rows: string[][]): string {
  if (rows.length === 0) return `${head.join('  ')}\n(none)`
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(head), ...rows.map(line)].join('\n')
}

/** `12D3KooW…AbCdEf`: enough to tell peers apart in a table. */
export function short(peer: string): string {
  return peer.length > 20 ? `${peer.slice(0, 8)}…${peer.slice(-6)}` : peer
}

/** 850 ms, 12 s, 5 min, 3 h, 2 d. */
export function ago(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${Math.round(ms / 1_000)} s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)} h`
  return `${Math.round(ms / 86_400_000)} d`
}
