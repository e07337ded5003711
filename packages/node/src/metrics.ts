/**
 * Counters behind `node.metrics()`: connections and bytes per transport, streams and bytes per channel. Live objects
 * are read when asked; ended ones are folded into totals as they end.
 */
import type { Connection, Stream } from '@pnet/network'

export interface TrafficCounters {
  /** open now */
  open: number
  /** opened since the node started */
  opened: number
  bytesIn: number
  bytesOut: number
}

export interface NodeMetrics {
  connections: { open: number; byTransport: Record<string, TrafficCounters> }
  streams: { open: number; byChannel: Record<string, TrafficCounters> }
  routes: number
  reachable: number
}

interface Totals {
  opened: number
  bytesIn: number
  bytesOut: number
}

const zero = (): Totals => ({ opened: 0, bytesIn: 0, bytesOut: 0 })

export class MetricsBook {
  readonly #transports = new Map<string, Totals>()
  readonly #channels = new Map<string, Totals & { live: Set<Stream> }>()

  connectionOpened(conn: Connection): void {
    this.#transport(conn.transport).opened++
  }

  /** A closed connection's final counts join the totals. */
  connectionClosed(conn: Connection): void {
    const t = this.#transport(conn.transport)
    t.bytesIn += conn.stats.bytesIn
    t.bytesOut += conn.stats.bytesOut
  }

  trackStream(stream: Stream, channel: string): void {
    stream.labels.channel = channel
    let c = this.#channels.get(channel)
    if (c === undefined) {
      c = { ...zero(), live: new Set() }
      this.#channels.set(channel, c)
    }
    c.opened++
    c.live.add(stream)
    const entry = c
    void stream.closed.then(() => {
      if (!entry.live.delete(stream)) return
      entry.bytesIn += stream.stats.bytesIn
      entry.bytesOut += stream.stats.bytesOut
    })
  }

  snapshot(open: Connection[], routes: number, reachable: number): NodeMetrics {
    const byTransport: Record<string, TrafficCounters> = {}
    for (const [name, t] of this.#transports) byTransport[name] = { open: 0, ...t }
    for (const conn of open) {
      let t = byTransport[conn.transport]
      if (t === undefined) {
        t = { open: 0, ...zero() }
        byTransport[conn.transport] = t
      }
      t.open++
      t.bytesIn += conn.stats.bytesIn
      t.bytesOut += conn.stats.bytesOut
    }
    const byChannel: Record<string, TrafficCounters> = {}
    let openStreams = 0
    for (const [name, c] of this.#channels) {
      const entry = { open: c.live.size, opened: c.opened, bytesIn: c.bytesIn, bytesOut: c.bytesOut }
      for (const s of c.live) {
        entry.bytesIn += s.stats.bytesIn
        entry.bytesOut += s.stats.bytesOut
      }
      openStreams += c.live.size
      byChannel[name] = entry
    }
    return {
      connections: { open: open.length, byTransport },
      streams: { open: openStreams, byChannel },
      routes,
      reachable,
    }
  }

  #transport(name: string): Totals {
    let t = this.#transports.get(name)
    if (t === undefined) {
      t = zero()
      this.#transports.set(name, t)
    }
    return t
  }
}
