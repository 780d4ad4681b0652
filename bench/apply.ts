/**
 * Bench: apply → running through the whole agent (store change feed, reconciler, runtime), cached
 * image: one pod, then N pods applied at once (time until all run), the agent's RSS and idle CPU
 * with N pods running, and their growth per pod. Peer: `podman run -d` latency for one container.
 * "Running" and "gone" are told by the store's event feed, as `tank wait` tells them (not by polling
 * statuses, a cost the agent's process would pay). Delete → all gone includes issuing the deletes,
 * and a grace period: `sleep` as PID 1 has no SIGTERM handler, so it is killed when that ends.
 * Run as root: `npx tsx bench/apply.ts [pods=100] [--one-only | --many-only] [--reps=15] [--no-peers]
 * [--timeline] [--burst-timeline] [--burst-reps=1] [--burst-profile=FILE]`. `--timeline` prints, for the last one-pod apply, the agent's debug log (change feed,
 * reconcile pass, bring-up, status and event writes) in ms since the apply began. `--burst-timeline`
 * prints, for the N-pod burst, each pod's gaps (apply → bring-up begins → done → running written →
 * seen) and bring-up steps as percentiles, the passes, and how many bring-ups ran at once
 * (bench/burstTimeline.ts). `--burst-reps=K` runs the burst K times (apply, all running, delete,
 * all gone) and reports the median. `--burst-profile=FILE` writes a CPU profile of the agent's thread
 * over each burst (FILE.1.cpuprofile, ...).
 */
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import * as Agent from "../src/agent/Agent.js"
import * as Api from "../src/api/Api.js"
import { resolveConfig } from "../src/reconciler/Reconciler.js"
import { Store } from "../src/store/Store.js"
import { tankEnv } from "../test/support/tankEnv.js"
import { makeTimeline, waitRunning, watchGone } from "./applyWatch.js"
import { burstReport } from "./burstTimeline.js"
import { has, podmanEnv, sh, timeInShell, unmountUnder } from "./peers.js"
import { makeProfiler } from "./profiler.js"
import { fmt, median, report, type Row } from "./report.js"

const args = process.argv.slice(2)
const flag = (f: string) => args.includes(f)
const option = (f: string) => args.find((a) => a.startsWith(`${f}=`))?.slice(f.length + 1)
const count = Number(args.find((a) => !a.startsWith("--")) ?? 100)
// One-pod applies and `podman run -d`s each: a median of 7 moved with a single slow sample on this
// 2-core VM (one run's seven: 36-67 ms, median 47; the next run's 27), 15 less so.
const reps = Number(option("--reps") ?? 15)
const runOne = !flag("--many-only")
const runMany = !flag("--one-only")
const peers = !flag("--no-peers")
const timeline = flag("--timeline")
const burstTimeline = flag("--burst-timeline")
const burstReps = Number(option("--burst-reps") ?? 1)
const profileTo = option("--burst-profile")

/** A CPU profile of the agent's thread over each burst (open it in Chrome's DevTools). */
const profiler = makeProfiler("the burst")

const rssMb = () => process.memoryUsage().rss / (1 << 20)

/**
 * CPU time of the agent's main thread (its JavaScript), ms: `process.cpuUsage` adds libuv's pool
 * threads, and work moved there off the thread a burst is bound by shows in the process's CPU alike.
 * Linux's per-thread utime + stime (clock ticks of 10 ms: fine over a burst of seconds).
 */
const mainThreadCpuMs = (): number => {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 1000 / 100
}

/** The machine's CPU (every core, every process) busy and total, in clock ticks: /proc/stat's first line. */
const machineTicks = (): { busy: number; total: number } => {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
  const total = f.reduce((a, b) => a + b, 0)
  return { busy: total - f[3]! - f[4]!, total }
}

const load = () => `${os.loadavg().map((x) => x.toFixed(2)).join(" ")}; ${os.cpus().length} cores`

const trace = makeTimeline()

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
  let lines: Array<string> = []
  for (let i = 0; runOne && i < reps; i++) {
    trace.clear()
    const t0 = performance.now()
    yield* apply(spec(`one-${i}`))
    const stored = performance.now()
    yield* waitRunning(store, [`one-${i}`], timeline ? trace.onChange : undefined)
    const seen = performance.now()
    one.push(seen - t0)
    lines = trace.lines(t0, stored, seen)
    // Stops come before starts in a pass: let this pod go before timing the next apply.
    const gone = yield* watchGone(store, [`one-${i}`])
    yield* remove(`one-${i}`)
    yield* gone
  }
  if (timeline && lines.length > 0) console.log(`timeline of the last one-pod apply:\n${lines.join("\n")}`)

  const burst = !runMany ? undefined : yield* Effect.gen(function*() {
    const names = Array.from({ length: count }, (_, i) => `many-${i}`)
    const deleteAll = Effect.gen(function*() {
      const allGone = yield* watchGone(store, names)
      const tStop = performance.now()
      for (const n of names) yield* remove(n)
      yield* allGone
      return performance.now() - tStop
    })
    const manys: Array<number> = []
    let rss0 = 0
    for (let rep = 0; rep < burstReps; rep++) {
      yield* Effect.sleep("1 second")
      rss0 = rssMb()
      if (profileTo !== undefined) yield* profiler.start
      const cpuAt0 = process.cpuUsage()
      const mainAt0 = mainThreadCpuMs()
      const machineAt0 = machineTicks()
      const t0 = performance.now()
      yield* Effect.provideService(Api.applyAll(names.map(spec)), Store, store)
      const stored = performance.now()
      yield* waitRunning(store, names, burstTimeline ? trace.onChange : undefined)
      manys.push(performance.now() - t0)
      const cpuBurst = process.cpuUsage(cpuAt0)
      const mainBurst = mainThreadCpuMs() - mainAt0
      const machineAt1 = machineTicks()
      const machineBusy = (machineAt1.busy - machineAt0.busy) / (machineAt1.total - machineAt0.total)
      if (profileTo !== undefined) yield* profiler.stop(`${profileTo}.${rep + 1}.cpuprofile`)
      console.log(
        `burst ${rep + 1}: ${manys.at(-1)!.toFixed(0)} ms (the apply call ${
          (stored - t0).toFixed(0)
        }), the agent's process used ${((cpuBurst.user + cpuBurst.system) / 1000).toFixed(0)} ms of CPU (user ${
          (cpuBurst.user / 1000).toFixed(0)
        }, system ${(cpuBurst.system / 1000).toFixed(0)}; its main thread ${
          mainBurst.toFixed(0)
        }); the machine's cores ${(machineBusy * 100).toFixed(0)} % busy; load ${os.loadavg()[0]!.toFixed(2)}`
      )
      if (burstTimeline) {
        const permits = resolveConfig({}).startConcurrency
        console.log(burstReport(trace.entries(), names, t0, stored, t0 + manys.at(-1)!, permits).join("\n"))
        trace.clear()
      }
      if (rep < burstReps - 1) yield* deleteAll
    }
    const many = median(manys)
    if (burstReps > 1) {
      console.log(`apply → all running, ${count} pods, each rep: ${manys.map((x) => x.toFixed(0)).join(" ")} ms`)
    }
    yield* Effect.sleep("2 seconds")
    const rss1 = rssMb()
    const cpu0 = process.cpuUsage()
    yield* Effect.sleep("10 seconds")
    const cpu = process.cpuUsage(cpu0)
    const idleCpuPct = ((cpu.user + cpu.system) / 1000) / 10_000 * 100
    const stopAll = yield* deleteAll
    return { many, stopAll, rss0, rss1, idleCpuPct }
  })

  let podman: number | undefined
  if (peers && runOne && has("podman")) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-apply-"))
    const penv = podmanEnv(path.join(work, "podman"), env.refs.busybox.split("/")[0]!)
    sh("podman", ["pull", "-q", env.refs.busybox], penv)
    podman = median(timeInShell("", `podman run -d --network=none ${env.refs.busybox} sleep 3600`, reps, penv))
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
    // Those processes also write their run dir's lock files as they go: a removal racing them finds
    // a dir not empty (ENOTEMPTY); again, for a few seconds, until they are done.
    for (let i = 0;; i++) {
      try {
        unmountUnder(work)
        fs.rmSync(work, { recursive: true, force: true })
        break
      } catch (e) {
        if (i === 50) {
          console.error(`(could not remove ${work}: ${e})`)
          break
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
      }
    }
  }
  console.log(`(load average at the start: ${loadAtStart}; at the end: ${load()})`)
  if (runOne) {
    console.log(
      `apply → running, one pod: ${fmt(median(one))} (median of ${one.length}: ${
        one.map((x) => x.toFixed(1)).join(" ")
      })`
    )
  }
  if (burst !== undefined) {
    const { idleCpuPct, many, rss0, rss1, stopAll } = burst
    console.log(`apply → all running, ${count} pods: ${fmt(many)}; delete → all gone: ${fmt(stopAll)}`)
    console.log(
      `agent RSS ${rss0.toFixed(1)} MB → ${rss1.toFixed(1)} MB with ${count} pods (${
        ((rss1 - rss0) * 1024 / count).toFixed(0)
      } KB/pod); idle CPU ${idleCpuPct.toFixed(2)} %`
    )
  }
  const rows: Array<Row> = [
    ...(runOne
      ? [{
        bench: "apply",
        case: "apply → running, 1 pod",
        tank: median(one),
        peer: "podman run -d",
        ...(podman !== undefined ? { peerValue: podman } : {})
      }]
      : []),
    ...(burst !== undefined
      ? [
        { bench: "apply", case: `apply → running, ${count} pods`, tank: burst.many },
        { bench: "apply", case: `delete → all gone, ${count} pods`, tank: burst.stopAll },
        {
          bench: "apply",
          case: `agent memory per pod (${count} pods)`,
          tank: (burst.rss1 - burst.rss0) * 1024 / count,
          unit: "KB"
        },
        { bench: "apply", case: `agent idle CPU with ${count} pods`, tank: burst.idleCpuPct, unit: "%" }
      ]
      : [])
  ]
  report(rows)
})

const main = timeline || burstTimeline ? Effect.provide(program, trace.layer) : program
Effect.runPromise(Effect.scoped(main)).catch((e) => {
  console.error(e)
  process.exit(1)
})
