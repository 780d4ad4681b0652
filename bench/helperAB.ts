/**
 * Bench: two builds of the native helper compared in one process, start by start — what a change
 * to the helper (its spawner, sandbox or monitor) does to a whole start-to-exit of `/bin/true`
 * (busybox, cached, network none, the runtime bench's default pod), without the drift between two
 * bench runs that on a shared 2-core VM is larger than most changes. Two Runtimes over one data
 * dir, one started while `TANK_HELPER` named build A, one with B (each Runtime's spawner keeps the
 * binary it was started with, and a monitor or sandbox is that binary's: /proc/self/exe); the
 * starts alternate A, B, B, A, … Prints each step's median per build and the ratio of the totals.
 * Root: `HELPER_A=/old/tank-helper HELPER_B=/new/tank-helper npx tsx bench/helperAB.ts [runs=20]`.
 * (The TypeScript side is this tree's for both; the comparison itself: bench/startAB.ts.)
 */
import { Context, Effect, Layer } from "effect"
import { Runtime } from "../src/runtime/Runtime.js"
import { runtimeLayer, tankEnv } from "../test/support/tankEnv.js"
import { compareStarts, runComparison } from "./startAB.js"

const runs = Number(process.argv[2] ?? 20)
const helpers = { A: process.env["HELPER_A"], B: process.env["HELPER_B"] }

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
  yield* compareStarts(env, runtimes, { runs, prefix: "ab", labels: { A: helpers.A, B: helpers.B } })
})

runComparison(program)
