/** Child-process side of the two-process stream benchmark: serves one impl/transport and prints its address. */
import { impls, type TransportName } from './impls.js'

const [implName = 'pnet', transport = 'tcp'] = process.argv.slice(2)
const impl = impls[implName]
if (impl === undefined) throw new Error(`unknown impl ${implName}`)
const served = await impl.serve(transport as TransportName)
process.stdout.write(`ADDR ${served.addr}\n`)
process.on('SIGTERM', () => {
  void served.close().finally(() => process.exit(0))
})
