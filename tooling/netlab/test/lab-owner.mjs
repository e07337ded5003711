// A process that owns a lab (for the teardown tests): prints the lab's id, then waits to be signalled.
import { createLab } from '../dist/index.js'

const lab = createLab({
  hosts: 3,
  edges: [
    [0, 1],
    [1, 2],
  ],
})
lab.spawn(1, ['sleep', '300'])
process.stdout.write(`${lab.id}\n`)
setInterval(() => {}, 1_000)
