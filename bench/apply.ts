/**
 * Bench: apply → running through the whole agent (store change feed, reconciler, runtime), cached
 * image: one pod, then N pods applied at once (time until all run), the agent's RSS and idle CPU
 * with N pods running, and their growth per pod. Peer: `podman run -d` latency for one container.
 * Run as root: `npx tsx bench/apply.ts [pods=100]`.
 */
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import * as Agent from "../src/agent/Agent.js"
import * as Api from "../src/api/Api.js"
import { Store } from "../src/store/Store.js"
import { tankEnv } from "../test/support/tankEnv.js"
import { has, podmanEnv, sh, timeInShell, unmountUnder } from "./peers.js"
import { fmt, median, report, type Row } from "./report.js"

const count = Number(process.argv[2] ?? 100)

const waitRunning = (store: Store["Type"], names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    for (;;) {
      const st = (yield* store.listStatus).statuses
      const up = new Set(st.filter((s) => s.phase === "running").map((s) => s.name))
      if (names.every((n) => up.has(n))) return
      yield* Effect.sleep("5 millis")
    }
  })

const rssMb = () => process.memoryUsage().rss / (1 << 20)

const program = Effect.gen(function*() {
  const env = yield* tankEnv()
  const config = { ...env.config, reconciler: { ...env.config.reconciler, resyncIntervalMs: 5000 } }
  const store = Context.get(yield* Layer.build(Agent.layer({ config })), Store)
  const spec = (name: string) => ({
    name,
    containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
  })
  const apply = (s: unknown) => Effect.provideService(Api.apply(s), Store, store)
  const remove = (n: string) => Effect.provideService(Api.remove(n), Store, store)
  // Warm the image cache.
  yield* apply(spec("warm"))
  yield* waitRunning(store, ["warm"])
  yield* remove("warm")
  yield* Effect.sleep("500 millis")

  const one: Array<number> = []
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now()
    yield* apply(spec(`one-${i}`))
    yield* waitRunning(store, [`one-${i}`])
    one.push(performance.now() - t0)
    yield* remove(`one-${i}`)
    // Stops come before starts in a pass: let this pod go before timing the next apply.
    while ((yield* store.listStatus).statuses.length > 0) yield* Effect.sleep("10 millis")
  }
  yield* Effect.sleep("1 second")
  const rss0 = rssMb()
  const names = Array.from({ length: count }, (_, i) => `many-${i}`)
  const t0 = performance.now()
  yield* Effect.provideService(Api.applyAll(names.map(spec)), Store, store)
  yield* waitRunning(store, names)
  const many = performance.now() - t0
  yield* Effect.sleep("2 seconds")
  const rss1 = rssMb()
  const cpu0 = process.cpuUsage()
  yield* Effect.sleep("10 seconds")
  const cpu = process.cpuUsage(cpu0)
  const idleCpuPct = ((cpu.user + cpu.system) / 1000) / 10_000 * 100
  for (const n of names) yield* remove(n)
  const tStop = performance.now()
  for (;;) {
    if ((yield* store.listStatus).statuses.length === 0) break
    yield* Effect.sleep("20 millis")
  }
  const stopAll = performance.now() - tStop

  let podman: number | undefined
  if (has("podman")) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-apply-"))
    const penv = podmanEnv(path.join(work, "podman"), env.refs.busybox.split("/")[0]!)
    sh("podman", ["pull", "-q", env.refs.busybox], penv)
    podman = median(timeInShell("", `podman run -d --network=none ${env.refs.busybox} sleep 3600`, 5, penv))
    sh("podman", ["rm", "-f", "-a", "-t", "0"], penv)
    sh("podman", ["rmi", "-a", "-f"], penv)
    unmountUnder(work)
    unmountUnder(work) // containers/storage stacks a bind of its home under its own mounts
    try {
      fs.rmSync(work, { recursive: true, force: true })
    } catch (e) {
      console.error(`(could not remove ${work}: ${e})`)
    }
  }
  console.log(`apply → running, one pod: ${fmt(median(one))} (median of ${one.length})`)
  console.log(`apply → all running, ${count} pods: ${fmt(many)}; delete → all gone: ${fmt(stopAll)}`)
  console.log(
    `agent RSS ${rss0.toFixed(1)} MB → ${rss1.toFixed(1)} MB with ${count} pods (${
      ((rss1 - rss0) * 1024 / count).toFixed(0)
    } KB/pod); idle CPU ${idleCpuPct.toFixed(2)} %`
  )
  const rows: Array<Row> = [
    {
      bench: "apply",
      case: "apply → running, 1 pod",
      tank: median(one),
      peer: "podman run -d",
      ...(podman !== undefined ? { peerValue: podman } : {})
    },
    { bench: "apply", case: `apply → running, ${count} pods`, tank: many },
    { bench: "apply", case: `delete → all gone, ${count} pods`, tank: stopAll },
    { bench: "apply", case: `agent memory per pod (${count} pods)`, tank: (rss1 - rss0) * 1024 / count, unit: "KB" },
    { bench: "apply", case: `agent idle CPU with ${count} pods`, tank: idleCpuPct, unit: "%" }
  ]
  report(rows)
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
