import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { silentLogger } from '@pnet/network'
import { describe, expect, it } from 'vitest'
import { Reporter } from '../src/agent/reporter.js'
import { OUTPUT_CHUNK_BYTES, REPORT_FLUSH_MS } from '../src/limits.js'
import { decodeReportBatch, encodeReportBatch, type ReportBatch } from '../src/protocol/reports.js'

const result = { type: 'result', status: 'ok', exitCode: 0, signal: null, durationMs: 3 } as const

describe('report batches', () => {
  it('verify only under the key of the agent that signed them, unaltered', async () => {
    const agent = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const batch: ReportBatch = { job: 'a'.repeat(32), seq: 0, reports: [{ type: 'started' }, result] }
    const bytes = await encodeReportBatch(agent, batch)
    expect(await decodeReportBatch(peerIdFromPrivateKey(agent), bytes)).toEqual(batch)
    // a relay that files the batch under another target, or flips a byte, gets it dropped
    await expect(decodeReportBatch(peerIdFromPrivateKey(other), bytes)).rejects.toThrow(/bad signature/)
    const flipped = bytes.slice()
    flipped[flipped.byteLength - 3]! ^= 1
    await expect(decodeReportBatch(peerIdFromPrivateKey(agent), flipped)).rejects.toThrow(/bad signature/)
    await expect(decodeReportBatch(peerIdFromPrivateKey(agent), bytes.subarray(0, 10))).rejects.toThrow(/version 1/)
    const hello = await encodeReportBatch(agent, {
      job: batch.job,
      seq: 1,
      reports: [{ type: 'hello', info: { peer: peerIdFromPrivateKey(other).toString(), tags: {}, version: '0' } }],
    })
    await expect(decodeReportBatch(peerIdFromPrivateKey(agent), hello)).rejects.toThrow(/hello names another peer/)
  })
})

describe('Reporter', () => {
  it('sends a quick command as one signed batch, numbered from 0', async () => {
    const key = await generateKeyPair('Ed25519')
    const sent: Uint8Array[] = []
    const r = new Reporter(key, 'job', async b => void sent.push(b), silentLogger)
    void r.add({ type: 'started' })
    void r.add({ type: 'output', stream: 'stdout', data: Buffer.from('host-1\n').toString('base64') })
    await r.add(result)
    expect(sent).toHaveLength(1)
    const batch = await decodeReportBatch(peerIdFromPrivateKey(key), sent[0]!)
    expect(batch.seq).toBe(0)
    expect(batch.reports.map(x => x.type)).toEqual(['started', 'output', 'result'])
    await r.add({ type: 'started' })
    expect(sent).toHaveLength(1) // ended: nothing after the final report
  })

  it('flushes output after REPORT_FLUSH_MS, and splits large output into batches that fit one reply', async () => {
    const key = await generateKeyPair('Ed25519')
    const sent: Uint8Array[] = []
    const r = new Reporter(key, 'job', async b => void sent.push(b), silentLogger)
    void r.add({ type: 'output', stream: 'stderr', data: 'AAAA' })
    await new Promise(res => setTimeout(res, REPORT_FLUSH_MS * 5))
    expect(sent).toHaveLength(1)
    const chunk = Buffer.alloc(OUTPUT_CHUNK_BYTES, 7).toString('base64')
    for (let i = 0; i < 10; i++) void r.add({ type: 'output', stream: 'stdout', data: chunk })
    await r.add(result)
    const batches = await Promise.all(sent.map(b => decodeReportBatch(peerIdFromPrivateKey(key), b)))
    expect(batches.map(b => b.seq)).toEqual(batches.map((_, i) => i))
    expect(batches.flatMap(b => b.reports).filter(x => x.type === 'output')).toHaveLength(11)
    for (const b of sent) expect(b.byteLength).toBeLessThanOrEqual(64 * 1024)
  })

  it('stops quietly once the link towards the controller fails', async () => {
    const key = await generateKeyPair('Ed25519')
    let calls = 0
    const r = new Reporter(
      key,
      'job',
      async () => {
        calls++
        throw new Error('stream reset')
      },
      silentLogger,
    )
    await r.add({ type: 'output', stream: 'stdout', data: Buffer.alloc(60_000).toString('base64') })
    await r.add(result)
    expect(calls).toBe(1)
  })
})
