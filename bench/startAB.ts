/**
 * Two Runtimes compared start by start in one process (bench/helperAB.ts: two builds of the native
 * helper; bench/runtimeAB.ts: two checkouts' TypeScript): each start-to-exit of `/bin/true`
 * (busybox, cached, network none, the runtime bench's default pod) alternates A, B, B, A, …, the
 * runner's debug "step timing" logs are collected per side, and the report gives each step's median
 * per side, how often B was the faster of a pair, and the ratio of the totals. Interleaving in one
 * process avoids the drift between two bench runs, which on a shared 2-core VM exceeds most changes.
 */
import { Effect, Exit, Logger, LogLevel, Scope } from "effect"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import type { RuntimeService } from "../src/runtime/Runtime.js"
import { decodePod } from "../src/spec/decode.js"
import type { TankEnv } from "../test/support/tankEnv.js"
import { fmt, median, ratio } from "./report.js"

type Side = "A" | "B"

/** `side phase step` → durations (ms), from the runner's debug "step timing" logs. */
const times = new Map<string, Array<number>>()
let current: Side | undefined
const add = (key: string, ms: number) => times.set(key, [...(times.get(key) ?? []), ms])
const stepLogger = Logger.make(({ annotations, message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  if (current === undefined || text !== "step timing") return
  const a = Object.fromEntries(annotations) as Record<string, unknown>
  add(`${current} ${String(a["phase"])} ${String(a["step"])}`, Number(a["ms"]))
})

/** `runs` interleaved pairs of starts on `runtimes` (after one unmeasured start each), then the report. */
export const compareStarts = (
  env: TankEnv,
  runtimes: Record<Side, RuntimeService>,
  opts: { readonly runs: number; readonly prefix: string; readonly labels: Record<Side, string> }
) =>
  Effect.gen(function*() {
    const once = (side: Side, i: number, measured: boolean) =>
      Effect.gen(function*() {
        const p = yield* decodePod({
          name: `${opts.prefix}-${side.toLowerCase()}${i}`,
          restart: "never",
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: ["/bin/true"],
            limits: { memory: 64 * 1024 * 1024, pids: 64, cpu: { quota: 100000, period: 100000 } }
          }]
        })
        current = measured ? side : undefined
        const t0 = performance.now()
        const scope = yield* Scope.make()
        const h = yield* Scope.extend(runtimes[side].start(p), scope)
        yield* h.wait
        yield* Scope.close(scope, Exit.void)
        if (measured) add(`${side} = total`, performance.now() - t0)
        current = undefined
      })
    yield* once("A", -1, false) // pulls the image, compiles the filter
    yield* once("B", -1, false)
    const load0 = os.loadavg()
    for (let i = 0; i < opts.runs; i++) {
      for (const side of i % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const)) yield* once(side, i, true)
    }
    const fmtLoad = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(2)).join(" ")
    console.log(`load average before ${fmtLoad(load0)}, after ${fmtLoad(os.loadavg())}`)
    console.log(
      `A ${opts.labels.A}\nB ${opts.labels.B}\nmedians of ${opts.runs} starts each (ms):      A        B`
    )
    const keys = [...new Set([...times.keys()].map((k) => k.slice(2)))]
    for (const k of keys) {
      const ma = median(times.get(`A ${k}`) ?? [])
      const mb = median(times.get(`B ${k}`) ?? [])
      console.log(`  ${k.padEnd(28)} ${ma.toFixed(2).padStart(8)} ${mb.toFixed(2).padStart(8)}`)
    }
    const ta = times.get("A = total")!
    const tb = times.get("B = total")!
    // Pair by pair (each pair ran back to back): how often B was the faster, and the median difference.
    const diffs = ta.map((x, i) => tb[i]! - x)
    console.log(
      `B faster in ${diffs.filter((d) => d < 0).length} of ${diffs.length} pairs; median B - A ${fmt(median(diffs))}`
    )
    console.log(
      `start-to-exit of /bin/true: B ${fmt(median(tb))} vs A ${fmt(median(ta))} (B ${ratio(median(tb), median(ta))})`
    )
  })

/** Runs a comparison with the runner's debug step timings collected (Info and above still printed). */
export const runComparison = (program: Effect.Effect<void, unknown, Scope.Scope>) =>
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
