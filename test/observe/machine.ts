/**
 * One Tank machine shared by the tests of a file (registry, fixture images, data dir, the live
 * Runtime) plus a second Runtime on the same data dir whose monitors rotate logs at a tiny size.
 */
import { Context, Effect, Layer } from "effect"
import type { Scope } from "effect"
import type { Cgroups } from "../../src/cgroups/Cgroups.js"
import type { TankConfig } from "../../src/config/Config.js"
import type { Network } from "../../src/net/Network.js"
import { type RunHandle, Runtime } from "../../src/runtime/Runtime.js"
import { decodePod } from "../../src/spec/decode.js"
import { runtimeLayer, type TankEnv, tankEnv } from "../support/tankEnv.js"

type Ctx = Context.Context<Runtime | TankConfig | Cgroups | Network>

export const SMALL_LOG = { maxFileBytes: 4096, maxFiles: 3 }

export class Machine extends Context.Tag("test/observe/Machine")<Machine, {
  readonly env: TankEnv
  readonly ctx: Ctx
  readonly smallLogs: Ctx
}>() {}

export const MachineLive = Layer.scoped(
  Machine,
  Effect.gen(function*() {
    const env = yield* tankEnv()
    const ctx = yield* Layer.build(runtimeLayer(env))
    const small = { ...env, config: { ...env.config, logs: { ...env.config.logs, ...SMALL_LOG } } }
    const smallLogs = yield* Layer.build(runtimeLayer(small))
    return { env, ctx, smallLogs }
  })
)

export const RUN_TAG = `o${process.pid.toString(36)}`
let counter = 0
export const podName = (what: string) => `${what}-${RUN_TAG}-${(counter++).toString(36)}`

/** Start a pod for the rest of the current scope (closing it stops and removes the pod). */
export const startPod = (
  spec: unknown,
  opts: { readonly smallLogs?: boolean } = {}
): Effect.Effect<RunHandle, unknown, Machine | Scope.Scope> =>
  Effect.gen(function*() {
    const m = yield* Machine
    const pod = yield* decodePod(spec)
    return yield* Effect.flatMap(Runtime, (r) => r.start(pod)).pipe(
      Effect.provide(opts.smallLogs ? m.smallLogs : m.ctx)
    )
  })

/** Run an effect needing the machine's services. */
export const onMachine = <A, E>(
  eff: Effect.Effect<A, E, TankConfig | Cgroups | Network>
): Effect.Effect<A, E, Machine> => Effect.flatMap(Machine, ({ ctx }) => Effect.provide(eff, ctx))
