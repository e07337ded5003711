import { expect, it } from 'vitest'
import { createRaftCore, type Message } from '../src/index.js'

it("the README's example runs as written: three in-process members apply 'hello'", () => {
  const ids = ['a', 'b', 'c']
  const cores = new Map(ids.map(id => [id, createRaftCore({ id, voters: ids })]))
  const applied: string[] = []
  const pump = () => {
    for (let busy = true; busy; ) {
      busy = false
      const inbox: Message[] = []
      for (const [id, core] of cores) {
        while (core.hasReady()) {
          busy = true
          const rd = core.ready()
          inbox.push(...rd.messages)
          for (const e of rd.committed)
            if (e.data.length > 0) applied.push(`${id}: ${new TextDecoder().decode(e.data)}`)
          core.advance(rd)
        }
      }
      for (const m of inbox) cores.get(m.to)!.step(m)
    }
  }
  cores.get('a')!.campaign()
  pump()
  cores.get('a')!.propose(new TextEncoder().encode('hello'))
  pump()
  expect(applied.sort()).toEqual(['a: hello', 'b: hello', 'c: hello'])
})
