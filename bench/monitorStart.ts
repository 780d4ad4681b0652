/**
 * Bench: a monitor's start (`tank-helper monitor --config FILE` through the agent's spawner, up to
 * its ready line: the workload cloned and parked), with the spawner's pool of one waiting monitor
 * (what the agent runs, `MONITOR_POOL`) against no pool (a fork + exec per monitor), interleaved
 * call by call (`poolAB.ts`). Each workload (`true`, busybox rootfs, the host's network so no netns
 * is made) is then run to its exit and its monitor released, untimed.
 * Root: `npx tsx bench/monitorStart.ts [runs=40]`.
 * Not in `npm run bench` (the runtime bench's `--steps` shows the monitors step of a whole start).
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { connect } from "../src/runtime/helper/client.js"
import { startMonitor } from "../src/runtime/helper/monitor.js"
import { baseConfig, killAll } from "../test/native/harness.js"
import { busyboxRootfs } from "../test/native/rootfs.js"
import { poolVsPlain } from "./poolAB.js"

const program = Effect.gen(function*() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-mon-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(base, { recursive: true, force: true })))
  const lower = yield* busyboxRootfs
  yield* poolVsPlain(
    "monitor start through the spawner (request to ready)",
    { pooled: { sandboxPool: 0, monitorPool: 1 }, plain: { sandboxPool: 0, monitorPool: 0 } },
    (runLine, which, i) =>
      Effect.scoped(Effect.gen(function*() {
        const dir = path.join(base, `${which}-${i}`)
        for (const d of ["upper", "work", "merged"]) fs.mkdirSync(path.join(dir, d), { recursive: true })
        const config = baseConfig(dir, lower, { namespaces: { net: "host", uts: "new", ipc: "new" } })
        const t0 = performance.now()
        yield* Effect.acquireRelease(startMonitor(config, path.join(dir, "config.json"), runLine), killAll)
        const ms = performance.now() - t0
        const client = yield* connect(config.socketPath)
        yield* client.proceed
        yield* client.wait
        yield* client.release
        return ms
      }))
  )
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
