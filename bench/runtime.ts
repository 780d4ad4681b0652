/**
 * Bench: container start-to-exit of `/bin/true` (busybox image, cached, network none, memory/pids/cpu
 * limits) through Tank's Runtime, against `crun run` and `runc run` on a bundle of the same image, and
 * `podman run --rm`. Run as root: `npx tsx bench/runtime.ts [runs=20]`.
 *
 * Tank is timed in-process (as the agent runs it): sandbox + cgroups + monitor + overlay rootfs +
 * exec + exit + teardown. The peers are timed inside one shell loop (no Node spawn overhead).
 * What isolation costs: the same start with Tank's defaults (seccomp filter, no_new_privs, device
 * policy, rlimits, cgroup namespace) and with `seccomp: unconfined, noNewPrivileges: false`,
 * interleaved run by run so machine drift hits both alike; and with `hostUsers: false` (a user
 * namespace in the sandbox, idmapped layers, the writable layer chowned) against the default start.
 *
 * `--steps`: also where the default start's time goes — the median of each bring-up step and each
 * teardown release (the runner's debug "step timing" logs), and what is left outside them (the
 * stages' steps side by side counted once; the wait for the exit apart).
 * `--no-peers`: Tank only (while iterating).
 * `--cpu`: also the agent process's CPU time (user + system, every thread) per default start, the
 * median: far less noisy than wall time on a loaded machine. `--profile=FILE`: a CPU profile of the
 * measured runs only (not the first pull, the filter's compile or module loading).
 */
import { Context, Effect, Exit, Layer, Logger, LogLevel, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { Runtime } from "../src/runtime/Runtime.js"
import { stages } from "../src/runtime/steps/index.js"
import * as UserNs from "../src/runtime/userns/UserNamespaces.js"
import { decodePod } from "../src/spec/decode.js"
import { runtimeLayer, tankEnv } from "../test/support/tankEnv.js"
import {
  crunCmd,
  ensurePeers,
  has,
  makeBundle,
  podmanEnv,
  removeBundleCgroups,
  sh,
  timeInShell,
  unmountUnder
} from "./peers.js"
import { makeProfiler } from "./profiler.js"
import { fmt, median, ratio, report, type Row } from "./report.js"

const args = process.argv.slice(2)
const runs = Number(args.find((a) => !a.startsWith("--")) ?? 20)
const showSteps = args.includes("--steps")
const noPeers = args.includes("--no-peers")
const showCpu = args.includes("--cpu")
const profileTo = args.find((a) => a.startsWith("--profile="))?.slice("--profile=".length)

/**
 * The main thread's time on a CPU (ms), from the scheduler's own count in nanoseconds: the thread a
 * burst of starts saturates (process.cpuUsage adds libuv's pool and the workers).
 */
const mainThreadCpu = () =>
  Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1e6

/** A CPU profile of this thread over the measured runs (open it in Chrome's DevTools). */
const profiler = makeProfiler("the runs")

/** `phase step` → durations (ms) of the default variant's runs, from the runner's debug logs. */
const stepTimes = new Map<string, Array<number>>()
let collecting = false
const phase = (key: string, ms: number) => stepTimes.set(key, [...(stepTimes.get(key) ?? []), ms])
const stepLogger = Logger.make(({ annotations, message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  if (!collecting || text !== "step timing") return
  const a = Object.fromEntries(annotations) as Record<string, unknown>
  const key = `${String(a["phase"])} ${String(a["step"])}`
  phase(key, Number(a["ms"]))
})

const program = Effect.gen(function*() {
  const peers = ensurePeers()
  const env = yield* tankEnv()
  // A pool of host ids for the hostUsers: false runs, far above real users.
  const pool = { start: 50_000 * 65536, size: 4 * 65536 }
  const ctx = yield* Layer.build(runtimeLayer(env).pipe(Layer.provideMerge(UserNs.layerMemory(pool))))
  const runtime = Context.get(ctx, Runtime)
  const userNamespaces = Context.get(ctx, UserNs.UserNamespaces)
  type Variant = "default" | "loose" | "userns"
  const pod = (i: number, variant: Variant) =>
    decodePod({
      name: `bench-true-${variant[0]}${i}`,
      restart: "never",
      ...(variant === "userns" ? { hostUsers: false } : {}),
      containers: [{
        name: "app",
        image: env.refs.busybox,
        command: ["/bin/true"],
        limits: { memory: 64 * 1024 * 1024, pids: 64, cpu: { quota: 100000, period: 100000 } },
        ...(variant === "loose" ? { seccomp: "unconfined", noNewPrivileges: false } : {})
      }]
    })
  const once = (i: number, variant: Variant = "default") =>
    Effect.gen(function*() {
      const p = yield* pod(i, variant)
      const t0 = performance.now()
      const scope = yield* Scope.make()
      const h = yield* Scope.extend(runtime.start(p), scope)
      const t1 = performance.now()
      yield* h.wait
      const t2 = performance.now()
      yield* Scope.close(scope, Exit.void)
      const took = performance.now() - t0
      if (collecting) {
        phase("= start (all acquires)", t1 - t0)
        phase("= wait (exit seen)", t2 - t1)
        phase("= stop (all releases)", performance.now() - t2)
      }
      // The reconciler gives a deleted pod's id range back; the bench starts through the Runtime
      // alone, so it does the same (else the small pool runs dry after four runs).
      yield* userNamespaces.release(p.name)
      return took
    })
  yield* once(-1) // pulls the image into the cache, compiles the default filter
  yield* once(-1, "userns")
  const tank: Array<number> = []
  const loose: Array<number> = []
  const userns: Array<number> = []
  const cpu: Array<number> = []
  const mainCpu: Array<number> = []
  if (profileTo) yield* profiler.start
  for (let i = 0; i < runs; i++) {
    collecting = true
    const c0 = process.cpuUsage()
    const m0 = mainThreadCpu()
    tank.push(yield* once(i))
    const c = process.cpuUsage(c0)
    cpu.push((c.user + c.system) / 1000)
    mainCpu.push(mainThreadCpu() - m0)
    collecting = false
    loose.push(yield* once(i, "loose"))
    userns.push(yield* once(i, "userns"))
  }
  if (profileTo) yield* profiler.stop(profileTo)
  if (showCpu) {
    console.log(`agent CPU per default start, median of ${runs}: ${fmt(median(cpu))} (min ${fmt(Math.min(...cpu))})`)
    console.log(
      `  of it on the agent's main thread: ${fmt(median(mainCpu))} (min ${fmt(Math.min(...mainCpu))})`
    )
  }
  const t = median(tank)
  const l = median(loose)
  const u = median(userns)

  if (showSteps) printSteps(tank)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-rt-"))
  const rows: Array<Row> = []
  const peerTimes: Record<string, number> = {}
  try {
    if (noPeers) {
      // Tank only.
    } else if (peers.includes("skopeo") && peers.includes("umoci")) {
      const bundle = makeBundle(work, env.refs.busybox, ["/bin/true"])
      if (has("runc")) {
        peerTimes["runc run"] = median(timeInShell("", `runc run --bundle ${bundle} tb-runc-$i`, runs))
      }
      if (has("crun")) {
        peerTimes["crun run"] = median(timeInShell("", crunCmd(`run --bundle ${bundle} tb-crun-$i`), runs))
      }
    }
    if (!noPeers && has("podman")) {
      const penv = podmanEnv(path.join(work, "podman"), env.refs.busybox.split("/")[0]!)
      sh("podman", ["pull", "-q", env.refs.busybox], penv)
      peerTimes["podman run --rm"] = median(
        timeInShell("", `podman run --rm --network=none ${env.refs.busybox} /bin/true`, Math.min(runs, 10), penv)
      )
      sh("podman", ["rmi", "-a", "-f"], penv)
      unmountUnder(work)
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
    removeBundleCgroups()
  }
  console.log(`start-to-exit of /bin/true, median of ${runs}: Tank ${fmt(t)} (min ${fmt(Math.min(...tank))})`)
  console.log(`  without the filter and no_new_privs: ${fmt(l)} → isolation costs ${fmt(t - l)} (${ratio(t, l)})`)
  rows.push({ bench: "runtime", case: "start-to-exit /bin/true", tank: t, peer: "Tank unconfined", peerValue: l })
  console.log(
    `  with hostUsers: false (user namespace, idmapped layer): ${fmt(u)} → ${fmt(u - t)} more (${ratio(u, t)})`
  )
  rows.push({
    bench: "runtime",
    case: "start-to-exit /bin/true, hostUsers: false",
    tank: u,
    peer: "hostUsers: true",
    peerValue: t
  })
  for (const peer of ["crun run", "runc run", "podman run --rm"]) {
    const v = peerTimes[peer]
    rows.push({
      bench: "runtime",
      case: "start-to-exit /bin/true",
      tank: t,
      peer,
      ...(v !== undefined ? { peerValue: v } : {})
    })
    if (v !== undefined) console.log(`  ${peer}: ${fmt(v)} → Tank is ${ratio(t, v)}`)
  }
  report(rows)
})

/**
 * Each step's median, then what is left outside them: per run, the bring-up's wall time less its
 * stages (a stage's steps run side by side, so a stage counts as its slowest step) and the same for
 * the teardown (its groups are the stages in reverse). The wait for the exit is the workload's own
 * time (exec, run, exit pushed), not the runtime's: shown apart, not counted as outside.
 */
const printSteps = (total: ReadonlyArray<number>) => {
  console.log(`where a default start goes (median of ${total.length} runs, ms):`)
  for (const [key, xs] of stepTimes) console.log(`  ${key.padEnd(24)} ${median(xs).toFixed(2).padStart(8)}`)
  console.log(`  ${"= total".padEnd(24)} ${median(total).toFixed(2).padStart(8)}`)
  const at = (key: string, i: number) => stepTimes.get(key)?.[i] ?? 0
  const stagesOf = (phase: string, i: number) =>
    stages.reduce((sum, stage) => sum + Math.max(...stage.map((s) => at(`${phase} ${s.name}`, i))), 0)
  const outside = (phase: string, wall: string) => total.map((_, i) => at(wall, i) - stagesOf(phase, i))
  const up = outside("acquire", "= start (all acquires)")
  const down = outside("release", "= stop (all releases)")
  console.log(`  ${"outside the steps".padEnd(24)} ${median(up.map((u, i) => u + down[i]!)).toFixed(2).padStart(8)}`)
  console.log(`    ${"of the bring-up".padEnd(22)} ${median(up).toFixed(2).padStart(8)}`)
  console.log(`    ${"of the teardown".padEnd(22)} ${median(down).toFixed(2).padStart(8)}`)
}

const main = showSteps
  ? program.pipe(
    Effect.provide(Logger.replace(
      Logger.defaultLogger,
      Logger.zip(Logger.filterLogLevel(Logger.defaultLogger, LogLevel.greaterThanEqual(LogLevel.Info)), stepLogger)
    )),
    Logger.withMinimumLogLevel(LogLevel.Debug)
  )
  : program

Effect.runPromise(Effect.scoped(main)).catch((e) => {
  console.error(e)
  process.exit(1)
})
