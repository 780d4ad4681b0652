/**
 * Bench: a pod sandbox (`tank-helper sandbox --net --uts --ipc --hostname`, what the sandbox step of
 * a start without a user namespace asks for) through the agent's spawner, with the spawner's pool
 * of one waiting sandbox (what the agent runs, `SANDBOX_POOL`) against no pool (a fork + exec +
 * unshare per sandbox), interleaved call by call so machine drift hits both alike; each sandbox is
 * unpinned after it. Between calls a pause as long as the rest of a start (`PAUSE_MS`, 25 ms), in
 * which the pool makes its next waiting child, as between two starts. Root: `npx tsx bench/sandbox.ts [runs=40]`.
 * Not in `npm run bench` (the runtime bench's `--steps` shows the step in a whole start).
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { sandbox } from "../src/runtime/helper/sandbox.js"
import { makeSpawnerWith } from "../src/runtime/helper/spawner.js"
import { unpinSandbox } from "../src/runtime/unpin.js"
import { fmt, median, ratio } from "./report.js"

const runs = Number(process.argv[2] ?? 40)
const pauseMs = Number(process.env["PAUSE_MS"] ?? 25)

const program = Effect.gen(function*() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-sb-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(base, { recursive: true, force: true })))
  const pooled = yield* makeSpawnerWith({ sandboxPool: 1 })
  const plain = yield* makeSpawnerWith({ sandboxPool: 0 })
  yield* pooled.warm
  yield* plain.warm
  const times = { pooled: [] as Array<number>, plain: [] as Array<number> }
  const once = (which: "pooled" | "plain", i: number) =>
    Effect.gen(function*() {
      const dir = path.join(base, `${which}-${i}`)
      const runLine = which === "pooled" ? pooled.runLine : plain.runLine
      const t0 = performance.now()
      yield* Effect.ensuring(
        sandbox({ dir, net: true, uts: true, ipc: true, hostname: `bench-${i}` }, runLine).pipe(
          Effect.tap(() => Effect.sync(() => times[which].push(performance.now() - t0)))
        ),
        Effect.orDie(unpinSandbox(dir))
      )
      yield* Effect.sleep(`${pauseMs} millis`)
    })
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
    `sandbox through the spawner, median of ${runs}: pool ${fmt(p)} (min ${fmt(Math.min(...times.pooled))}), ` +
      `no pool ${fmt(n)} (min ${fmt(Math.min(...times.plain))}): ${ratio(p, n)}`
  )
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
