import { describe, expect, it } from 'vitest'
import {
  ConfChangeError,
  createRaftCore,
  NotLeaderError,
  ProposalDroppedError,
  RaftUsageError,
  ReadDroppedError,
  TransferError,
} from '../src/index.js'
import { MAX_INFLIGHT_APPENDS } from '../src/limits.js'
import type { Entry, Message } from '../src/types.js'
import { Net } from './helpers.js'

const bytes = (s: string) => new TextEncoder().encode(s)

describe('election', () => {
  it('a member that campaigns becomes leader of term 1; the others follow it', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    for (const id of ['b', 'c']) {
      expect(net.core(id).status()).toMatchObject({ role: 'follower', leader: 'a', term: 1 })
    }
    // the leader's no-op of term 1 commits and is applied everywhere
    for (const id of net.ids) expect(net.applied.get(id)!.map(e => e.term)).toEqual([1])
  })

  it('randomized election timeouts lie in [electionTicks, 2 × electionTicks)', () => {
    for (const [r, expected] of [
      [0, 6],
      [0.99, 11],
    ] as const) {
      const core = createRaftCore({ id: 'a', voters: ['a', 'b', 'c'], electionTicks: 6, random: () => r })
      let ticks = 0
      while (core.status().role === 'follower') {
        core.tick()
        ticks++
      }
      expect(ticks).toBe(expected)
      expect(core.status()).toMatchObject({ role: 'pre-candidate', term: 0 })
    }
  })

  it('a lone member elects itself through PreVote then Vote and commits alone', () => {
    const net = new Net(['a'])
    net.tick('a', 6)
    expect(net.core('a').status()).toMatchObject({ role: 'leader', term: 1, commit: 1 })
    net.propose('a', 'x')
    expect(net.appliedText('a')).toEqual(['x'])
  })

  it('PreVote: a member returning from a partition causes no term bump and no election', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.isolate('c')
    net.tick('c', 100) // many election timeouts alone: pre-votes that nobody answers
    expect(net.core('c').status().term).toBe(1)
    net.heal()
    net.tickAll(5)
    expect(net.core('a').status()).toMatchObject({ role: 'leader', term: 1 })
    expect(net.core('c').status()).toMatchObject({ role: 'follower', leader: 'a', term: 1 })
  })

  it('without PreVote the same return would bump the term (the control case)', () => {
    const net = new Net(['a', 'b', 'c'], { preVote: false, checkQuorum: false })
    net.elect('a')
    net.isolate('c')
    net.tick('c', 30)
    expect(net.core('c').status().term).toBeGreaterThan(1)
  })

  it('CheckQuorum: a leader that hears no quorum for an election timeout steps down', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.isolate('a')
    net.tick('a', 6) // first round: the followers were active before the cut
    net.tick('a', 6)
    expect(net.core('a').status()).toMatchObject({ role: 'follower', leader: '', term: 1 })
  })

  it('lease: a member that hears its leader ignores a vote request at a higher term', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    const vote: Message = {
      type: 'Vote',
      from: 'c',
      to: 'b',
      term: 9,
      logTerm: 1,
      index: 99,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: 0,
      transfer: false,
    }
    const before = net.sent.length
    net.core('b').step(vote)
    net.drain()
    expect(net.core('b').status().term).toBe(1)
    expect(net.sent.slice(before).filter(m => m.type === 'VoteResp')).toEqual([])
  })

  it('a member whose log is behind cannot win; the up-to-date one does', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.isolate('c')
    net.propose('a', 'x')
    net.heal()
    net.isolate('a')
    net.core('c').campaign()
    net.drain()
    expect(net.core('c').status().role).not.toBe('leader')
    net.tickAll(30)
    expect(net.core('b').status().role).toBe('leader')
  })
})

describe('leader transfer', () => {
  it('hands leadership to a caught-up target in the next term; proposals are refused meanwhile', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.isolate('b')
    net.propose('a', 'x')
    net.heal()
    net.blocked.add('a>b') // b cannot catch up yet
    net.core('a').transferLeader('b')
    expect(() => net.core('a').propose(bytes('y'))).toThrow(ProposalDroppedError)
    net.heal()
    net.tick('a', 1) // heartbeat → b answers → append → b catches up → TimeoutNow
    expect(net.core('b').status()).toMatchObject({ role: 'leader', term: 2 })
    expect(net.core('a').status()).toMatchObject({ role: 'follower', leader: 'b', term: 2 })
    net.propose('b', 'z')
    expect(net.appliedText('a')).toEqual(['x', 'z'])
  })

  it('is abandoned after an election timeout when the target never catches up', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.isolate('b')
    net.core('a').transferLeader('b')
    net.tick('a', 6)
    expect(net.core('a').status().role).toBe('leader')
    expect(() => net.propose('a', 'ok')).not.toThrow()
  })

  it('refuses targets that are not voters, itself, and calls on followers', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    expect(() => net.core('a').transferLeader('zz')).toThrow(TransferError)
    expect(() => net.core('a').transferLeader('a')).toThrow(expect.objectContaining({ reason: 'self' }))
    expect(() => net.core('b').transferLeader('c')).toThrow(expect.objectContaining({ reason: 'not-leader' }))
  })
})

describe('replication', () => {
  it('proposals commit once a quorum made them durable and apply in order everywhere', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.isolate('c')
    for (const s of ['x', 'y', 'z']) net.propose('a', s)
    expect(net.appliedText('a')).toEqual(['x', 'y', 'z'])
    expect(net.appliedText('c')).toEqual([])
    net.heal()
    net.tickAll(2)
    for (const id of net.ids) expect(net.appliedText(id)).toEqual(['x', 'y', 'z'])
  })

  it('a leader counts itself only for entries it has persisted: a lone leader commits after advance()', () => {
    const core = createRaftCore({ id: 'a', voters: ['a'], random: () => 0 })
    core.campaign()
    let rd = core.ready()
    core.advance(rd)
    rd = core.ready()
    core.advance(rd)
    const index = core.propose(bytes('x'))
    rd = core.ready()
    expect(rd.entries.map(e => e.index)).toEqual([index])
    expect(rd.committed).toEqual([]) // not durable yet, so not committed
    core.advance(rd)
    rd = core.ready()
    expect(rd.committed.map(e => e.index)).toEqual([index])
    core.advance(rd)
  })

  it('batching: proposals between two Readys reach each follower in one MsgApp (group commit)', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    const a = net.core('a')
    for (let i = 0; i < 100; i++) a.propose(bytes(`p${i}`))
    const rd = a.ready()
    expect(rd.entries).toHaveLength(100)
    const apps = rd.messages.filter(m => m.type === 'App')
    expect(apps.map(m => [m.to, m.entries.length])).toEqual([
      ['b', 100],
      ['c', 100],
    ])
    a.advance(rd)
  })

  it('pipelining: a follower in replicate state gets appends without waiting for acks, up to the inflight window', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.blocked.add('a>b')
    const a = net.core('a')
    let apps = 0
    for (let i = 0; i < MAX_INFLIGHT_APPENDS + 20; i++) {
      a.propose(bytes(`p${i}`))
      const rd = a.ready()
      apps += rd.messages.filter(m => m.type === 'App' && m.to === 'b').length
      a.advance(rd)
    }
    expect(apps).toBe(MAX_INFLIGHT_APPENDS)
    expect(a.status().progress.b!.state).toBe('replicate')
  })

  it('probe state: a follower that rejected gets one append per heartbeat until it answers', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    const a = net.core('a')
    // forge a rejection of an append after index 5 (b holds up to 1): a's view of b drops to probe
    a.step({ ...blankMessage('AppResp', 'b', 'a', 1), reject: true, index: 5, rejectHint: 1, logTerm: 1 })
    let rd = a.ready()
    expect(rd.messages.filter(m => m.type === 'App' && m.to === 'b')).toHaveLength(1)
    a.advance(rd)
    expect(a.status().progress.b!.state).toBe('probe')
    for (let i = 0; i < 3; i++) a.propose(bytes(`p${i}`))
    rd = a.ready()
    expect(rd.messages.filter(m => m.type === 'App' && m.to === 'b')).toHaveLength(0) // paused
    a.advance(rd)
  })

  it('fast backtracking: a follower with a long divergent tail is repaired in one rejection, not one per entry', () => {
    const term = (t: number, from: number, to: number): Entry[] =>
      Array.from({ length: to - from + 1 }, (_, i) => ({ term: t, index: from + i, data: bytes(`t${t}.${from + i}`) }))
    const common = term(1, 1, 5)
    const leaderLog = [...common, ...term(3, 6, 50)]
    const staleLog = [...common, ...term(2, 6, 55)]
    const net = new Net([])
    net.ids = ['a', 'b', 'c']
    net.start('a', { hardState: { term: 3, vote: 'a', commit: 5 }, entries: leaderLog })
    net.start('b', { hardState: { term: 3, vote: 'a', commit: 5 }, entries: leaderLog })
    net.start('c', { hardState: { term: 2, vote: 'c', commit: 5 }, entries: staleLog })
    net.elect('a')
    const rejects = net.sent.filter(m => m.type === 'AppResp' && m.from === 'c' && m.reject)
    expect(rejects.length).toBeLessThanOrEqual(1)
    const durable = net.durable.get('c')!.entries
    expect(durable.map(e => e.term)).toEqual(net.durable.get('a')!.entries.map(e => e.term))
  })
})

describe('ReadIndex', () => {
  it('reads issued together share one heartbeat round and answer with the commit index, with no log write', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.propose('a', 'x')
    const a = net.core('a')
    const lastIndex = a.status().lastIndex
    const before = net.sent.length
    const ids = [a.readIndex(), a.readIndex(), a.readIndex()]
    net.drain()
    const heartbeats = net.sent.slice(before).filter(m => m.type === 'Heartbeat')
    expect(heartbeats).toHaveLength(2) // one round: one heartbeat per follower
    expect(net.reads.get('a')!.map(r => r.id)).toEqual(ids)
    expect(net.reads.get('a')!.every(r => r.index === a.status().commit)).toBe(true)
    expect(a.status().lastIndex).toBe(lastIndex)
  })

  it('a follower read is forwarded to the leader and answered after its round', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.propose('a', 'x')
    const id = net.core('b').readIndex()
    net.drain()
    expect(net.reads.get('b')).toEqual([{ id, index: net.core('a').status().commit }])
  })

  it('a leader cut off from the quorum never answers (its heartbeats get no acks)', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.isolate('a')
    net.core('a').readIndex()
    net.drain()
    expect(net.reads.get('a')).toEqual([])
  })

  it('is held until a new leader has committed in its term, and refused without a known leader', () => {
    const a = createRaftCore({ id: 'a', voters: ['a', 'b', 'c'], random: () => 0 })
    expect(() => a.readIndex()).toThrow(NotLeaderError)
    // a wins with b's votes, but its no-op of term 1 has not committed yet
    a.campaign()
    a.step(blankMessage('PreVoteResp', 'b', 'a', 1))
    a.step(blankMessage('VoteResp', 'b', 'a', 1))
    expect(a.status().role).toBe('leader')
    const id = a.readIndex()
    let rd = a.ready()
    expect(rd.readStates).toEqual([])
    a.advance(rd)
    // b acknowledges the no-op (index 1): it commits, and the held read starts its heartbeat round
    a.step({ ...blankMessage('AppResp', 'b', 'a', 1), index: 1 })
    rd = a.ready()
    const heartbeat = rd.messages.find(m => m.type === 'Heartbeat' && m.to === 'b')!
    a.advance(rd)
    a.step({ ...blankMessage('HeartbeatResp', 'b', 'a', 1), context: heartbeat.context })
    rd = a.ready()
    expect(rd.readStates).toEqual([{ id, index: 1 }])
    a.advance(rd)
  })
})

describe('membership', () => {
  it('addServer adds a learner that the leader promotes to voter once it has caught up', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.propose('a', 'x')
    // d starts with the same bootstrap configuration; it is not a voter, so it never campaigns
    net.cores.set('d', createRaftCore({ id: 'd', voters: ['a', 'b', 'c'], random: () => 0 }))
    net.durable.set('d', { hardState: { term: 0, vote: '', commit: 0 }, entries: [] })
    net.applied.set('d', [])
    net.reads.set('d', [])
    net.core('a').addServer('d')
    net.drain()
    net.tickAll(3)
    expect(net.core('a').status().membership).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] })
    expect(net.appliedText('d')).toEqual(['x'])
    // every member applied the learner entry, then the promotion
    const conf = net.applied.get('b')!.flatMap(e => (e.conf ? [e.conf.op] : []))
    expect(conf).toEqual(['add-learner', 'promote'])
  })

  it('a learner that has not caught up is not promoted, and does not count toward the quorum meanwhile', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    for (let i = 0; i < 5; i++) net.propose('a', `p${i}`)
    net.cores.set('d', createRaftCore({ id: 'd', voters: ['a', 'b', 'c'], random: () => 0 }))
    net.durable.set('d', { hardState: { term: 0, vote: '', commit: 0 }, entries: [] })
    net.applied.set('d', [])
    net.reads.set('d', [])
    net.blocked.add('a>d')
    net.core('a').addServer('d')
    net.drain()
    net.tickAll(10)
    expect(net.core('a').status().membership).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] })
    net.isolate('c') // with d a learner, a and b are still a quorum of three
    net.blocked.add('a>d')
    net.propose('a', 'while d lags')
    expect(net.appliedText('b')).toContain('while d lags')
    net.heal()
    net.tickAll(3)
    expect(net.core('a').status().membership).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] })
  })

  it('one change at a time: a second change while one is uncommitted is refused', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.isolate('a')
    net.core('a').removeServer('c')
    expect(() => net.core('a').removeServer('b')).toThrow(ConfChangeError)
    expect(() => net.core('a').removeServer('b')).toThrow(
      expect.objectContaining({ reason: 'pending', code: 'ERR_CONF_CHANGE' }),
    )
  })

  it('removeServer shrinks the quorum; a removed leader steps down and the rest elect', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.core('a').removeServer('a')
    net.drain()
    net.tickAll(2)
    expect(net.core('a').status().role).toBe('follower')
    net.tickAll(20)
    const leaders = ['b', 'c'].filter(id => net.core(id).status().role === 'leader')
    expect(leaders).toHaveLength(1)
    expect(net.core(leaders[0]!).status().membership.voters.sort()).toEqual(['b', 'c'])
  })
})

describe('restart and the Ready contract', () => {
  it('a member restarted from its durable state keeps term, vote and log, and re-applies committed entries', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    net.propose('a', 'x')
    net.propose('a', 'y')
    const d = net.durable.get('b')!
    const b = net.start('b', { hardState: { ...d.hardState }, entries: d.entries.slice() })
    expect(b.status()).toMatchObject({ term: 1, vote: 'a', lastIndex: 3 })
    net.tickAll(2)
    expect(net.appliedText('b')).toEqual(['x', 'y'])
  })

  it('ready() twice without advance(), or feeding the core meanwhile, is a RaftUsageError', () => {
    const core = createRaftCore({ id: 'a', voters: ['a'], random: () => 0 })
    core.campaign()
    const rd = core.ready()
    expect(() => core.ready()).toThrow(RaftUsageError)
    expect(() => core.tick()).toThrow(expect.objectContaining({ code: 'ERR_RAFT_USAGE', name: 'RaftUsageError' }))
    core.advance(rd)
  })

  it('errors carry literal names, ERR_ codes and their data as fields', () => {
    const net = new Net(['a', 'b', 'c'])
    net.elect('a')
    try {
      net.core('b').propose(bytes('x'))
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(NotLeaderError)
      expect(err).toMatchObject({ name: 'NotLeaderError', code: 'ERR_NOT_LEADER', leader: 'a' })
    }
    expect(new ReadDroppedError('backlog-full')).toMatchObject({ name: 'ReadDroppedError', code: 'ERR_READ_DROPPED' })
  })
})

function blankMessage(type: Message['type'], from: string, to: string, term: number): Message {
  return {
    type,
    from,
    to,
    term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
    transfer: false,
  }
}
