/**
 * Bench: this tree's Runtime against another checkout's, start by start in one process — what a
 * change to the runtime's TypeScript (its steps, runner, monitor client) does to a whole
 * start-to-exit of `/bin/true` (busybox, cached, network none, the runtime bench's default pod),
 * without the drift between two bench runs that on a shared 2-core VM is larger than most changes.
 * Two Runtimes over one data dir: A is built from the other checkout's modules (its
 * `test/support/tankEnv.ts` runtimeLayer, its own native helper under its package root), B from
 * this tree's; both share `effect` (the same node_modules), so their layers and tags mix. The
 * starts alternate A, B, B, A, … Prints each step's median per tree and the ratio of the totals
 * (bench/startAB.ts; bench/helperAB.ts does the same for two builds of the native helper).
 * Root: `npx tsx bench/runtimeAB.ts --against=/old/checkout [runs=60]` (the checkout needs its
 * node_modules and `make -C native`).
 *
 * First use (4 December, 21:35-21:55 UTC, the VM shared with other engineers' tests, load 3-6):
 * c510d88 (A) against the stage order, network-none and `within` changes (B), four runs of
 * 60/80/100/100 pairs: B faster in 40, 46, 57, 57 of them (200 of 340); median pair difference
 * -7.6, -0.76, -1.15, -1.55 ms; totals A 51.8/23.4/23.2/28.4 vs B 42.0/22.7/22.9/25.2 ms. The
 * network step 0.45-0.66 -> 0.02-0.04 ms, the monitors' release 1.1-2.6 -> 0.9-1.6 ms.
 */
import { Context, Effect, Layer } from "effect"
import * as path from "node:path"
import { Runtime, type RuntimeService } from "../src/runtime/Runtime.js"
import { runtimeLayer, type TankEnv, tankEnv } from "../test/support/tankEnv.js"
import { compareStarts, runComparison } from "./startAB.js"

const args = process.argv.slice(2)
const against = args.find((a) => a.startsWith("--against="))?.slice("--against=".length)
const runs = Number(args.find((a) => !a.startsWith("--")) ?? 60)

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
  yield* compareStarts(env, { A: a, B: b }, {
    runs,
    prefix: "rab",
    labels: { A: path.resolve(against), B: process.cwd() }
  })
})

runComparison(program)
