/**
 * Bench: apply → running through the whole agent (store change feed, reconciler, runtime), cached
 * image: one pod, then N pods applied at once (time until all run), the agent's RSS and idle CPU
 * with N pods running, and their growth per pod. Peer: `podman run -d` latency for one container.
 * "Running" and "gone" are told by the store's event feed, as `tank wait` tells them (not by polling
 * statuses, a cost the agent's process would pay). Delete → all gone includes issuing the deletes,
 * and a grace period: `sleep` as PID 1 has no SIGTERM handler, so it is killed when that ends.
 * Run as root: `npx tsx bench/apply.ts [pods=100]`.
 */
import { Context, Deferred, Effect, Exit, Fiber, Layer, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import * as Agent from "../src/agent/Agent.js"
import * as Api from "../src/api/Api.js"
import { watch } from "../src/api/watch.js"
import { Store } from "../src/store/Store.js"
import { tankEnv } from "../test/support/tankEnv.js"
import { has, podmanEnv, sh, timeInShell, unmountUnder } from "./peers.js"
import { fmt, median, report, type Row } from "./report.js"

const count = Number(process.argv[2] ?? 100)

/**
 * Wait until every pod in `names` is running, told by the store's event feed as `tank wait` is
 * (Api.watch): no status polling, whose cost (a full status read every few ms) would be charged to
 * the agent it measures.
 */
const waitRunning = (store: Store["Type"], names: ReadonlyArray<string>) =>
  Effect.suspend(() => {
    const want = new Set(names)
    const left = new Set(names)
    return watch().pipe(
      Stream.takeUntil((c) => {
        if (want.has(c.name)) {
          if (c._tag === "Updated" && c.status.phase === "running") left.delete(c.name)
          else left.add(c.name)
        }
        return left.size === 0
      }),
      Stream.runDrain,
      Effect.provideService(Store, store)
    )
  })

/**
 * Watch `names` (each has a status now) until all are gone; returns once the feed has shown every
 * one of them, so deletes issued after it cannot be missed. Yields the wait for the rest.
 */
const watchGone = (store: Store["Type"], names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const want = new Set(names)
    const seen = new Set<string>()
    const present = new Set<string>()
    const listed = yield* Deferred.make<void>()
    const fiber = yield* watch().pipe(
      Stream.takeUntil((c) => {
        if (!want.has(c.name)) return false
        seen.add(c.name)
        if (c._tag === "Removed") present.delete(c.name)
        else present.add(c.name)
        if (seen.size === want.size) Deferred.unsafeDone(listed, Exit.void)
        return seen.size === want.size && present.size === 0
      }),
      Stream.runDrain,
      Effect.provideService(Store, store),
      Effect.fork
    )
    yield* Deferred.await(listed)
    return Fiber.join(fiber)
  })

const rssMb = () => process.memoryUsage().rss / (1 << 20)

const load = () => `${os.loadavg().map((x) => x.toFixed(2)).join(" ")}; ${os.cpus().length} cores`

const program = Effect.gen(function*() {
  const loadAtStart = load()
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
    // Stops come before starts in a pass: let this pod go before timing the next apply.
    const gone = yield* watchGone(store, [`one-${i}`])
    yield* remove(`one-${i}`)
    yield* gone
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
  const allGone = yield* watchGone(store, names)
  const tStop = performance.now()
  for (const n of names) yield* remove(n)
  yield* allGone
  const stopAll = performance.now() - tStop

  let podman: number | undefined
  if (has("podman")) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-apply-"))
    const penv = podmanEnv(path.join(work, "podman"), env.refs.busybox.split("/")[0]!)
    sh("podman", ["pull", "-q", env.refs.busybox], penv)
    podman = median(timeInShell("", `podman run -d --network=none ${env.refs.busybox} sleep 3600`, 5, penv))
    sh("podman", ["rm", "-f", "-a", "-t", "0"], penv)
    sh("podman", ["rmi", "-a", "-f"], penv)
    // containers/storage stacks binds of its home under its own mounts (sometimes several deep).
    const mountedUnder = () =>
      fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => (l.split(" ")[4] ?? "").startsWith(work))
    // podman's own clean-up process (spawned by conmon as the container goes) may mount again
    // after we looked: keep at it for a few seconds.
    for (let i = 0; i < 50 && mountedUnder(); i++) {
      unmountUnder(work)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
    }
    try {
      fs.rmSync(work, { recursive: true, force: true })
    } catch (e) {
      console.error(`(could not remove ${work}: ${e})`)
    }
  }
  console.log(`(load average at the start: ${loadAtStart}; at the end: ${load()})`)
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
