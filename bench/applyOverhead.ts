/**
 * Bench: what apply → running costs outside the runtime. The agent's own parts (validation, the
 * SQLite store and its change feed, the reconciler's passes, workers and status/event writes, a
 * watcher told by the event feed) over an in-memory runtime whose bring-up takes no time
 * (test/support/fakeRuntime.ts), so the figures are the agent's overhead per pod, free of the
 * runtime's cost and of most of a loaded machine's noise (each pod's time is mostly this process's
 * CPU). One pod at a time (median), then a burst of N pods (time until all run) and its delete.
 * Run: `npx tsx bench/applyOverhead.ts [pods=100] [--reps=50] [--timeline] [--ops] [--burst-profile=FILE]`
 * (no root needed). `--burst-profile=FILE` writes a CPU profile of the burst to running (FILE.cpuprofile).
 */
import { Context, Effect, Layer } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import * as Api from "../src/api/Api.js"
import * as ReconcilerLive from "../src/reconciler/ReconcilerLive.js"
import { layerSqlite } from "../src/store/sqlite.js"
import { Store } from "../src/store/Store.js"
import { makeFakeRuntime } from "../test/support/fakeRuntime.js"
import { tmpDir } from "../test/support/tmp.js"
import { makeTimeline, waitRunning, watchGone } from "./applyWatch.js"
import { makeProfiler } from "./profiler.js"
import { fmt, median, report } from "./report.js"

const args = process.argv.slice(2)
const count = Number(args.find((a) => !a.startsWith("--")) ?? 100)
const reps = Number(args.find((a) => a.startsWith("--reps="))?.slice(7) ?? 50)
const timeline = args.includes("--timeline")
const profileTo = args.find((a) => a.startsWith("--burst-profile="))?.slice(16)
const profiler = makeProfiler("the burst")
const trace = makeTimeline()
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(" ")

/** Store calls by operation (`--ops`): how many, and their time (wall, from call to result). */
const ops = new Map<string, { n: number; ms: number }>()
const counted = (store: Store["Type"]): Store["Type"] => {
  if (!args.includes("--ops")) return store
  const wrapped: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(store)) {
    const tally = <A, E, R>(e: Effect.Effect<A, E, R>) =>
      Effect.suspend(() => {
        const t = performance.now()
        return Effect.ensuring(
          e,
          Effect.sync(() => {
            const o = ops.get(k) ?? { n: 0, ms: 0 }
            o.n++
            o.ms += performance.now() - t
            ops.set(k, o)
          })
        )
      })
    wrapped[k] = Effect.isEffect(v)
      ? tally(v)
      : typeof v === "function"
      ? (...a: Array<unknown>) => {
        const r = (v as (...a: Array<unknown>) => unknown)(...a)
        return Effect.isEffect(r) ? tally(r) : r
      }
      : v
  }
  return wrapped as unknown as Store["Type"]
}

const program = Effect.gen(function*() {
  const loadAtStart = load()
  const dir = yield* tmpDir("tank-bench-overhead-")
  const store = counted(Context.get(yield* Layer.build(layerSqlite(path.join(dir, "tank.db"))), Store))
  const fake = yield* makeFakeRuntime()
  yield* Layer.build(
    ReconcilerLive.layer({ resyncIntervalMs: 5_000, agentPid: process.pid }).pipe(
      Layer.provide(Layer.succeed(Store, store)),
      Layer.provide(fake.layer)
    )
  )
  const spec = (name: string) => ({ name, containers: [{ name: "app", image: "busybox", command: ["sleep", "1"] }] })
  const api = <A, E>(e: Effect.Effect<A, E, Store>) => Effect.provideService(e, Store, store)

  const cpuMs = (since: NodeJS.CpuUsage) => {
    const u = process.cpuUsage(since)
    return (u.user + u.system) / 1000
  }
  const one: Array<number> = []
  const cycleCpu: Array<number> = []
  const applyCall: Array<number> = []
  let lines: Array<string> = []
  for (let i = 0; i < reps; i++) {
    trace.clear()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    yield* api(Api.apply(spec(`one-${i}`)))
    const stored = performance.now()
    applyCall.push(stored - t0)
    yield* waitRunning(store, [`one-${i}`], timeline ? trace.onChange : undefined)
    const seen = performance.now()
    one.push(seen - t0)
    lines = trace.lines(t0, stored, seen)
    const gone = yield* watchGone(store, [`one-${i}`])
    yield* api(Api.remove(`one-${i}`))
    yield* gone
    cycleCpu.push(cpuMs(c0))
  }
  // The median of the warm half: the first cycles load and compile code, and a loaded machine's
  // interference shows as outliers.
  const oneCpu = median(cycleCpu.slice(reps / 2))
  if (timeline) console.log(`timeline of the last one-pod apply:\n${lines.join("\n")}`)
  const names = Array.from({ length: count }, (_, i) => `many-${i}`)
  if (profileTo !== undefined) yield* profiler.start
  const cpu1 = process.cpuUsage()
  const t0 = performance.now()
  yield* api(Api.applyAll(names.map(spec)))
  yield* waitRunning(store, names)
  const many = performance.now() - t0
  const manyCpu = cpuMs(cpu1)
  if (profileTo !== undefined) yield* profiler.stop(`${profileTo}.cpuprofile`)
  const gone = yield* watchGone(store, names)
  const t1 = performance.now()
  for (const n of names) yield* api(Api.remove(n))
  yield* gone
  const stopAll = performance.now() - t1
  console.log(`(load average at the start: ${loadAtStart}; at the end: ${load()}; ${os.cpus().length} cores)`)
  console.log(
    `apply → running outside the runtime, one pod: ${fmt(median(one))} (median of ${reps}; the last half ${
      fmt(median(one.slice(reps / 2)))
    }; the apply call alone ${fmt(median(applyCall.slice(reps / 2)))})`
  )
  console.log(
    `CPU of this process: ${
      oneCpu.toFixed(1)
    } ms per one-pod cycle (apply, running, delete, gone; median of the warm half); ${
      manyCpu.toFixed(0)
    } ms for the ${count}-pod burst to running`
  )
  for (const [k, o] of [...ops].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`store.${k}: ${o.n} calls, ${o.ms.toFixed(0)} ms`)
  }
  report([
    { bench: "applyOverhead", case: "apply → running, 1 pod, zero-time runtime", tank: median(one) },
    { bench: "applyOverhead", case: `apply → running, ${count} pods, zero-time runtime`, tank: many },
    { bench: "applyOverhead", case: "CPU per one-pod cycle (apply → running → gone)", tank: oneCpu },
    { bench: "applyOverhead", case: `CPU of the ${count}-pod burst to running`, tank: manyCpu },
    { bench: "applyOverhead", case: `delete → all gone, ${count} pods, zero-time runtime`, tank: stopAll }
  ])
})

Effect.runPromise(Effect.scoped(timeline ? Effect.provide(program, trace.layer) : program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
