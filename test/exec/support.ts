/**
 * One Tank machine shared by the tests of a file (registry, fixture images, data dir, the live
 * Runtime) and a way to start pods on it for the length of a test.
 */
import { Context, Effect, Layer } from "effect"
import type { Scope } from "effect"
import { TankConfig } from "../../src/config/Config.js"
import { type RunHandle, Runtime } from "../../src/runtime/Runtime.js"
import { decodePod } from "../../src/spec/decode.js"
import { runtimeLayer, type TankEnv, tankEnv } from "../support/tankEnv.js"

export class Machine extends Context.Tag("test/exec/Machine")<Machine, {
  readonly env: TankEnv
  readonly ctx: Context.Context<Runtime | TankConfig>
}>() {}

export const MachineLive = Layer.scoped(
  Machine,
  Effect.gen(function*() {
    const env = yield* tankEnv()
    const ctx = yield* Layer.build(runtimeLayer(env))
    return { env, ctx }
  })
)

/** A tag in every pod name of this process, so leak checks only look at our own processes. */
export const RUN_TAG = `x${process.pid.toString(36)}`
let counter = 0
export const podName = (what: string) => `${what}-${RUN_TAG}-${(counter++).toString(36)}`

/** Start a pod for the rest of the current scope (closing it stops and removes the pod). */
export const startPod = (spec: unknown): Effect.Effect<RunHandle, unknown, Machine | Scope.Scope> =>
  Effect.gen(function*() {
    const { ctx } = yield* Machine
    const pod = yield* decodePod(spec)
    return yield* Effect.flatMap(Runtime, (r) => r.start(pod)).pipe(Effect.provide(ctx))
  })

/** Run an exec/attach effect against the machine's data dir. */
export const onMachine = <A, E>(eff: Effect.Effect<A, E, TankConfig>): Effect.Effect<A, E, Machine> =>
  Effect.flatMap(Machine, ({ env }) => Effect.provideService(eff, TankConfig, env.config))
