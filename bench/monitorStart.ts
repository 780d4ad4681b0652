/**
 * Bench: a monitor's start (`tank-helper monitor --config FILE` through the agent's spawner, up to
 * its ready line: the workload cloned and parked), with the spawner's pool of one waiting monitor
 * (what the agent runs, `MONITOR_POOL`) against no pool (a fork + exec per monitor), interleaved
 * call by call so machine drift hits both alike. Each workload (`true`, busybox rootfs, the host's
 * network so no netns is made) is then run to its exit and its monitor released, untimed. Between
 * calls a pause as long as the rest of a start (`PAUSE_MS`, 25 ms), in which the pool makes its next
 * waiting monitor, as between two starts. Root: `npx tsx bench/monitorStart.ts [runs=40]`.
 * Not in `npm run bench` (the runtime bench's `--steps` shows the monitors step of a whole start).
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { connect } from "../src/runtime/helper/client.js"
import { startMonitor } from "../src/runtime/helper/monitor.js"
import { makeSpawnerWith } from "../src/runtime/helper/spawner.js"
import { baseConfig, killAll } from "../test/native/harness.js"
import { busyboxRootfs } from "../test/native/rootfs.js"
import { fmt, median, ratio } from "./report.js"

const runs = Number(process.argv[2] ?? 40)
const pauseMs = Number(process.env["PAUSE_MS"] ?? 25)

const program = Effect.gen(function*() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-mon-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(base, { recursive: true, force: true })))
  const lower = yield* busyboxRootfs
  const pooled = yield* makeSpawnerWith({ sandboxPool: 0, monitorPool: 1 })
  const plain = yield* makeSpawnerWith({ sandboxPool: 0, monitorPool: 0 })
  yield* pooled.warm
  yield* plain.warm
  const times = { pooled: [] as Array<number>, plain: [] as Array<number> }
  const once = (which: "pooled" | "plain", i: number) =>
    Effect.scoped(Effect.gen(function*() {
      const dir = path.join(base, `${which}-${i}`)
      for (const d of ["upper", "work", "merged"]) fs.mkdirSync(path.join(dir, d), { recursive: true })
      const config = baseConfig(dir, lower, { namespaces: { net: "host", uts: "new", ipc: "new" } })
      const runLine = which === "pooled" ? pooled.runLine : plain.runLine
      const t0 = performance.now()
      const h = yield* Effect.acquireRelease(startMonitor(config, path.join(dir, "config.json"), runLine), killAll)
      times[which].push(performance.now() - t0)
      const client = yield* connect(config.socketPath)
      yield* client.proceed
      yield* client.wait
      yield* client.release
      yield* Effect.sleep(`${pauseMs} millis`)
      return h
    }))
  yield* once("pooled", -1)
  yield* once("plain", -1)
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first, so neither always follows the other's teardown.
    const order = i % 2 === 0 ? (["pooled", "plain"] as const) : (["plain", "pooled"] as const)
    for (const w of order) yield* once(w, i)
  }
  const p = median(times.pooled)
  const n = median(times.plain)
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
  console.log(
    `monitor start through the spawner (request to ready), median of ${runs}: pool ${fmt(p)} ` +
      `(min ${fmt(Math.min(...times.pooled))}), no pool ${fmt(n)} (min ${fmt(Math.min(...times.plain))}): ${
        ratio(p, n)
      }`
  )
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
