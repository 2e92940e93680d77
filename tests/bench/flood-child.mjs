// A gateway for bench:floods, from a given build (dist/ of this or an older version), that reports its own
// heap after a full GC and its longest event-loop stall since the last question (IPC). node --expose-gc.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { join } from 'node:path'
const dist = process.argv[2]
const { loadConfig } = await import(join(dist, 'edge', 'config', 'load.js'))
const { startGateway } = await import(join(dist, 'edge', 'gateway.js'))
const { config, envAdminToken } = loadConfig({})
const gw = await startGateway({ config, envAdminToken })
let h = monitorEventLoopDelay({ resolution: 5 })
h.enable()
process.on('message', (m) => {
  if (m === 'measure') {
    globalThis.gc(); globalThis.gc()
    const lag = h.max / 1e6
    h.disable(); h = monitorEventLoopDelay({ resolution: 5 }); h.enable()
    process.send({ heapMB: process.memoryUsage().heapUsed / 1_048_576, rssMB: process.memoryUsage().rss / 1_048_576, lagMs: lag })
  } else if (m === 'stop') void gw.stop().then(() => process.exit(0))
})
process.send({ ready: true })
