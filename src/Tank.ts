/**
 * Tank's front door for scripts and the REPL: every operation as an Effect that carries its own
 * default layers, so `Effect.runPromise(Tank.apply(spec))` works in a plain script.
 *
 * Defaults: config from `$TANK_CONFIG` / `<dataDir>/config.yaml` and env; the SQLite store under the
 * data dir (`$TANK_DATA_DIR`, else `~/.cache/tank`). To compose your own layers, use `Api` with any
 * `Store` layer instead.
 */
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Api from "./api/Api.js"
import * as Config from "./config/Config.js"
import { layerSqlite } from "./store/sqlite.js"
import type { PodStatus } from "./store/status.js"
import type { Store } from "./store/Store.js"
import { StoreError } from "./store/Store.js"

/** The default store: the SQLite file the config names (created on first use). */
export const StoreLive: Layer.Layer<Store | Config.TankConfig, Config.ConfigError | StoreError> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* Config.load()
    yield* Effect.try({
      try: () => fs.mkdirSync(path.dirname(config.storeFile), { recursive: true, mode: 0o700 }),
      catch: (e) => new StoreError({ op: "open", message: `cannot create ${path.dirname(config.storeFile)}: ${e}` })
    })
    return Layer.merge(layerSqlite(config.storeFile), Layer.succeed(Config.TankConfig, config))
  })
)

const withDefaults = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provide(eff, StoreLive)

/** Validate and store a pod (create or replace); the agent converges. */
export const apply = (spec: unknown) => withDefaults(Api.apply(spec))
/** Apply several pods at once; if any is invalid, none is stored. */
export const applyAll = (specs: ReadonlyArray<unknown>) => withDefaults(Api.applyAll(specs))
/** The desired spec of one pod (fails with PodNotFound). */
export const get = (name: string) => withDefaults(Api.get(name))
/** All desired pods, sorted by name. */
export const list = () => withDefaults(Api.list)
/** Remove a pod's desired state; the agent tears it down. */
export const remove = (nameOrPod: string | { readonly name: string }) => withDefaults(Api.remove(nameOrPod))
export { remove as delete }
/** Observed status: of one pod, or of all of them. */
export function status(): Effect.Effect<
  ReadonlyArray<PodStatus>,
  Config.ConfigError | StoreError
>
export function status(
  name: string
): Effect.Effect<PodStatus, Api.PodNotFound | Config.ConfigError | StoreError>
export function status(name?: string) {
  return name === undefined ? withDefaults(Api.statusAll) : withDefaults(Api.status(name))
}
/** Restart a pod and reset its backoff. */
export const restart = (name: string) => withDefaults(Api.restart(name))
