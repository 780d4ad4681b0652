/**
 * Bench: this tree's Runtime against another checkout's, start by start in one process — what a
 * change to the runtime's TypeScript (its steps, runner, monitor client) does to a whole
 * start-to-exit of `/bin/true` (busybox, cached, network none, the runtime bench's default pod),
 * without the drift between two bench runs that on a shared 2-core VM is larger than most changes.
 * Two Runtimes over one data dir: A is built from the other checkout's modules (its
 * `test/support/tankEnv.ts` runtimeLayer, its own native helper under its package root), B from
 * this tree's; both share `effect` (the same node_modules), so their layers and tags mix. The
 * starts alternate A, B, B, A, … Prints each step's median per tree and the ratio of the totals
 * (bench/helperAB.ts does the same for two builds of the native helper).
 * Root: `npx tsx bench/runtimeAB.ts --against=/old/checkout [runs=60]` (the checkout needs its
 * node_modules and `make -C native`).
 *
 * First use (4 December, 21:35-21:55 UTC, the VM shared with other engineers' tests, load 3-6):
 * c510d88 (A) against the stage order, network-none and `within` changes (B), four runs of
 * 60/80/100/100 pairs: B faster in 40, 46, 57, 57 of them (200 of 340); median pair difference
 * -7.6, -0.76, -1.15, -1.55 ms; totals A 51.8/23.4/23.2/28.4 vs B 42.0/22.7/22.9/25.2 ms. The
 * network step 0.45-0.66 -> 0.02-0.04 ms, the monitors' release 1.1-2.6 -> 0.9-1.6 ms.
 */
import { Context, Effect, Exit, Layer, Logger, LogLevel, Scope } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { Runtime, type RuntimeService } from "../src/runtime/Runtime.js"
import { decodePod } from "../src/spec/decode.js"
import { runtimeLayer, type TankEnv, tankEnv } from "../test/support/tankEnv.js"
import { fmt, median, ratio } from "./report.js"

const args = process.argv.slice(2)
const against = args.find((a) => a.startsWith("--against="))?.slice("--against=".length)
const runs = Number(args.find((a) => !a.startsWith("--")) ?? 60)

type Tree = "A" | "B"
/** `tree phase step` → durations (ms), from the runner's debug "step timing" logs. */
const times = new Map<string, Array<number>>()
let current: Tree | undefined
const add = (key: string, ms: number) => times.set(key, [...(times.get(key) ?? []), ms])
const stepLogger = Logger.make(({ annotations, message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  if (current === undefined || text !== "step timing") return
  const a = Object.fromEntries(annotations) as Record<string, unknown>
  add(`${current} ${String(a["phase"])} ${String(a["step"])}`, Number(a["ms"]))
})

/** The other checkout's runtime layer and Runtime tag (its modules, loaded by path). */
const otherRuntime = (dir: string) =>
  Effect.promise(async () => {
    const env = await import(path.resolve(dir, "test/support/tankEnv.ts")) as {
      runtimeLayer: (env: TankEnv) => Layer.Layer<unknown>
    }
    const rt = await import(path.resolve(dir, "src/runtime/Runtime.ts")) as {
      Runtime: Context.Tag<unknown, RuntimeService>
    }
    return { layer: env.runtimeLayer, tag: rt.Runtime }
  })

const program = Effect.gen(function*() {
  if (!against) return yield* Effect.die("--against=DIR must name the checkout to compare with")
  const env = yield* tankEnv()
  const other = yield* otherRuntime(against)
  const a = Context.get(yield* Layer.build(other.layer(env)) as Effect.Effect<Context.Context<unknown>>, other.tag)
  const b = Context.get(yield* Layer.build(runtimeLayer(env)), Runtime)
  const runtimes: Record<Tree, RuntimeService> = { A: a, B: b }
  const once = (tree: Tree, i: number, measured: boolean) =>
    Effect.gen(function*() {
      const p = yield* decodePod({
        name: `rab-${tree.toLowerCase()}${i}`,
        restart: "never",
        containers: [{
          name: "app",
          image: env.refs.busybox,
          command: ["/bin/true"],
          limits: { memory: 64 * 1024 * 1024, pids: 64, cpu: { quota: 100000, period: 100000 } }
        }]
      })
      current = measured ? tree : undefined
      const t0 = performance.now()
      const scope = yield* Scope.make()
      const h = yield* Scope.extend(runtimes[tree].start(p), scope)
      yield* h.wait
      yield* Scope.close(scope, Exit.void)
      if (measured) add(`${tree} = total`, performance.now() - t0)
      current = undefined
    })
  yield* once("A", -1, false) // pulls the image, compiles the filter
  yield* once("B", -1, false)
  const load0 = os.loadavg()
  for (let i = 0; i < runs; i++) {
    for (const t of i % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const)) yield* once(t, i, true)
  }
  const fmtLoad = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(2)).join(" ")
  console.log(`load average before ${fmtLoad(load0)}, after ${fmtLoad(os.loadavg())}`)
  console.log(`A ${path.resolve(against)}\nB ${process.cwd()}\nmedians of ${runs} starts each (ms):      A        B`)
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
