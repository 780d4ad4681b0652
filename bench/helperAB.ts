/**
 * Bench: two builds of the native helper compared in one process, start by start — what a change
 * to the helper (its spawner, sandbox or monitor) does to a whole start-to-exit of `/bin/true`
 * (busybox, cached, network none, the runtime bench's default pod), without the drift between two
 * bench runs that on a shared 2-core VM is larger than most changes. Two Runtimes over one data
 * dir, one started while `TANK_HELPER` named build A, one with B (each Runtime's spawner keeps the
 * binary it was started with, and a monitor or sandbox is that binary's: /proc/self/exe); the
 * starts alternate A, B, B, A, … Prints each step's median per build and the ratio of the totals.
 * Root: `HELPER_A=/old/tank-helper HELPER_B=/new/tank-helper npx tsx bench/helperAB.ts [runs=20]`.
 * (The TypeScript side is this tree's for both.)
 */
import { Context, Effect, Exit, Layer, Logger, LogLevel, Scope } from "effect"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import { Runtime } from "../src/runtime/Runtime.js"
import { decodePod } from "../src/spec/decode.js"
import { runtimeLayer, tankEnv } from "../test/support/tankEnv.js"
import { fmt, median, ratio } from "./report.js"

const runs = Number(process.argv[2] ?? 20)
const helpers = { A: process.env["HELPER_A"], B: process.env["HELPER_B"] }

type Build = "A" | "B"
/** `build phase step` → durations (ms), from the runner's debug "step timing" logs. */
const times = new Map<string, Array<number>>()
let current: Build | undefined
const add = (key: string, ms: number) => times.set(key, [...(times.get(key) ?? []), ms])
const stepLogger = Logger.make(({ annotations, message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  if (current === undefined || text !== "step timing") return
  const a = Object.fromEntries(annotations) as Record<string, unknown>
  add(`${current} ${String(a["phase"])} ${String(a["step"])}`, Number(a["ms"]))
})

const program = Effect.gen(function*() {
  if (!helpers.A || !helpers.B) return yield* Effect.die("HELPER_A and HELPER_B must name two helper binaries")
  const env = yield* tankEnv()
  const runtimeOn = (helper: string) =>
    Effect.gen(function*() {
      // Read when the Runtime's spawner starts (at its build) and by nothing after that which
      // decides the binary; restored at once.
      const before = process.env["TANK_HELPER"]
      process.env["TANK_HELPER"] = helper
      const ctx = yield* Layer.build(runtimeLayer(env)).pipe(
        Effect.ensuring(Effect.sync(() => {
          if (before === undefined) delete process.env["TANK_HELPER"]
          else process.env["TANK_HELPER"] = before
        }))
      )
      return Context.get(ctx, Runtime)
    })
  const runtimes = { A: yield* runtimeOn(helpers.A), B: yield* runtimeOn(helpers.B) }
  const once = (build: Build, i: number, measured: boolean) =>
    Effect.gen(function*() {
      const p = yield* decodePod({
        name: `ab-${build.toLowerCase()}${i}`,
        restart: "never",
        containers: [{
          name: "app",
          image: env.refs.busybox,
          command: ["/bin/true"],
          limits: { memory: 64 * 1024 * 1024, pids: 64, cpu: { quota: 100000, period: 100000 } }
        }]
      })
      current = measured ? build : undefined
      const t0 = performance.now()
      const scope = yield* Scope.make()
      const h = yield* Scope.extend(runtimes[build].start(p), scope)
      yield* h.wait
      yield* Scope.close(scope, Exit.void)
      if (measured) add(`${build} = total`, performance.now() - t0)
      current = undefined
    })
  yield* once("A", -1, false) // pulls the image, compiles the filter
  yield* once("B", -1, false)
  for (let i = 0; i < runs; i++) {
    for (const b of i % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const)) yield* once(b, i, true)
  }
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
  console.log(`A ${helpers.A}\nB ${helpers.B}\nmedians of ${runs} starts each (ms):      A        B`)
  const keys = [...new Set([...times.keys()].map((k) => k.slice(2)))]
  for (const k of keys) {
    const a = median(times.get(`A ${k}`) ?? [])
    const b = median(times.get(`B ${k}`) ?? [])
    console.log(`  ${k.padEnd(28)} ${a.toFixed(2).padStart(8)} ${b.toFixed(2).padStart(8)}`)
  }
  const a = median(times.get("A = total")!)
  const b = median(times.get("B = total")!)
  console.log(`start-to-exit of /bin/true: B ${fmt(b)} vs A ${fmt(a)} (B ${ratio(b, a)})`)
})

Effect.runPromise(Effect.scoped(program.pipe(
  Effect.provide(Logger.replace(
    Logger.defaultLogger,
    Logger.zip(Logger.filterLogLevel(Logger.defaultLogger, LogLevel.greaterThanEqual(LogLevel.Info)), stepLogger)
  )),
  Logger.withMinimumLogLevel(LogLevel.Debug)
))).catch((e) => {
  console.error(e)
  process.exit(1)
})
