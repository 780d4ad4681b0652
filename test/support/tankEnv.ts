/**
 * A whole Tank machine for e2e tests: a local registry with the fixture images pushed, a temp data
 * dir, and the live layers (Config, Host, Images, Cgroups, Network, Runtime) over them.
 */
import { Context, Effect, Layer } from "effect"
import { Cgroups } from "../../src/cgroups/Cgroups.js"
import * as Config from "../../src/config/Config.js"
import { execCapture } from "../../src/exec/Exec.js"
import { Host } from "../../src/host/Host.js"
import * as Images from "../../src/image/Images.js"
import { NetworkLive } from "../../src/net/NetworkLive.js"
import { Runtime } from "../../src/runtime/Runtime.js"
import * as RuntimeLive from "../../src/runtime/RuntimeLive.js"
import { type FixtureRefs, pushFixturesEffect } from "./fixtureImages.js"
import { startRegistry } from "./registry.js"
import { tmpDir } from "./tmp.js"

export interface TankEnv {
  readonly dataDir: string
  readonly refs: FixtureRefs
  readonly config: Config.TankConfigShape
}

export interface EnvOptions {
  readonly host?: { readonly uplink?: string; readonly dns?: ReadonlyArray<string> }
  readonly parentNetns?: string
  readonly stopGracePeriodMs?: number
}

/** Registry + fixtures + data dir, all removed when the scope closes. */
export const tankEnv = (opts: EnvOptions = {}) =>
  Effect.gen(function*() {
    const registry = yield* startRegistry()
    const refs = yield* pushFixturesEffect(registry.host)
    // The benches put Tank's data dirs where root's default is (bench/all.ts, BENCH_DATA_PARENT).
    const dataDir = yield* tmpDir("tank-e2e-", process.env["BENCH_DATA_PARENT"] || undefined)
    const base = yield* Config.load({ dataDir, env: {} })
    const config: Config.TankConfigShape = {
      ...base,
      host: { uplink: opts.host?.uplink, dns: opts.host?.dns ?? ["10.0.0.1"] },
      reconciler: { ...base.reconciler, stopGracePeriodMs: opts.stopGracePeriodMs ?? 2_000 }
    }
    const env = { dataDir, refs, config } satisfies TankEnv
    // Whatever a failed test left running in this data dir (monitors, namespace pins, cgroups) is
    // swept before the dir itself goes: a failing test must not leak onto the machine.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const runtime = yield* Runtime
        for (const pod of yield* runtime.leftovers) yield* runtime.sweep(pod)
      }).pipe(Effect.provide(runtimeLayer(env)), Effect.scoped, Effect.ignore)
    )
    return env
  })

/** The runtime's dependencies and the Runtime itself over an env. */
export const runtimeLayer = (env: TankEnv, opts: EnvOptions = {}) => {
  const config = Layer.succeed(Config.TankConfig, env.config)
  const deps = Layer.mergeAll(
    config,
    Host.Static(env.config.host),
    Images.layer({ cacheDir: `${env.dataDir}/images` }),
    Cgroups.layer,
    NetworkLive
  )
  return RuntimeLive.layer(opts.parentNetns ? { parentNetns: opts.parentNetns } : {}).pipe(Layer.provideMerge(deps))
}

/**
 * A live Runtime over a fresh test machine, plus `inPod`: run a shell command in a pod's container
 * (through exec, from "another process" as far as the runtime is concerned) and capture its output.
 */
export const liveRuntime = (opts: EnvOptions = {}) =>
  Effect.gen(function*() {
    const env = yield* tankEnv(opts)
    const runtime = Context.get(yield* Layer.build(runtimeLayer(env, opts)), Runtime)
    const configLayer = Layer.succeed(Config.TankConfig, env.config)
    const inPod = (pod: string, cmd: string, container?: string) =>
      execCapture(pod, ["sh", "-c", cmd], container ? { container } : {}).pipe(Effect.provide(configLayer))
    return { env, runtime, inPod }
  })
