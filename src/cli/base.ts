/**
 * What commands share that does not need @effect/cli: exit codes, output lines, the config and the
 * store for a data dir already resolved. common.ts re-exports it all (with the options and the root
 * command that resolve the data dir); the quick entry (quick.ts) imports only this, so `tank ps` and
 * `tank exec` can run without @effect/cli's parser.
 */
import { Data, Effect, Option } from "effect"
import * as Config from "../config/Config.js"
import type { TankConfigShape } from "../config/Config.js"
import type { Store } from "../store/Store.js"
import { write } from "./stdio.js"

/** Exit codes: 0 ok, 1 error, 2 usage; exec passes the command's code through (125-127 like docker). */
export const ExitCode = { ok: 0, error: 1, usage: 2 } as const

/** Ends the command with `code`; `message` (if any) goes to stderr as `tank: message`. */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: number; readonly message?: string }> {}

/** Print a line to stdout: waits for a slow reader; fails once stdout has failed (stdio.ts). */
export const out = (text: string) => write("stdout", text.endsWith("\n") ? text : text + "\n")
export const err = (text: string) => write("stderr", text.endsWith("\n") ? text : text + "\n")

/** The resolved config (file + env + the data dir, already absolute, if one was given). */
export const loadConfigAt = (dataDir: Option.Option<string>): Effect.Effect<TankConfigShape, unknown> =>
  // Config is imported eagerly: nearly every command reads it (the quick bundles must not import()
  // what they run: quickPs.ts).
  Config.load(Option.isSome(dataDir) ? { dataDir: dataDir.value } : {})

/**
 * Run `eff` against the configured store: etcd in cluster mode (`store.etcd`, $TANK_ETCD_ENDPOINTS;
 * its client is loaded only then), else the data dir's SQLite file. Writers create the file on first
 * use (like Tank.ts does); readers (`readOnly`) of a data dir that has no store yet see an empty one
 * and create no files.
 */
export const withStoreAt = <A, E>(
  dataDir: Option.Option<string>,
  eff: (config: TankConfigShape) => Effect.Effect<A, E, Store>,
  options: { readonly readOnly?: boolean } = {}
): Effect.Effect<A, unknown> => Effect.flatMap(loadConfigAt(dataDir), (config) => withStore(config, eff, options))

/** `withStoreAt` for a config already loaded. */
export const withStore = <A, E>(
  config: TankConfigShape,
  eff: (config: TankConfigShape) => Effect.Effect<A, E, Store>,
  options: { readonly readOnly?: boolean } = {}
): Effect.Effect<A, unknown> =>
  Effect.gen(function*() {
    // The config in context too: Api.apply checks host volumes against it (allowedHostPaths).
    const run = Effect.provideService(eff(config), Config.TankConfig, config)
    const { storeFromConfig } = yield* Effect.promise(() => import("../store/fromConfig.js"))
    return yield* Effect.provide(run, storeFromConfig(config, options))
  })

/**
 * Cluster mode: exec, attach, logs and stats only work on the node that runs the pod. Fails with
 * PodOnOtherNode (naming the node) for a pod bound elsewhere; a no-op without etcd.
 */
export const ensureOnThisNode = (
  config: TankConfigShape,
  pods: ReadonlyArray<string>
): Effect.Effect<void, unknown> =>
  config.etcd === undefined || pods.length === 0 ? Effect.void : Effect.gen(function*() {
    const [{ storeLayer }, NodeView, { Store }] = yield* Effect.promise(() =>
      Promise.all([import("../store/fromConfig.js"), import("../cluster/nodeView.js"), import("../store/Store.js")])
    )
    yield* Effect.flatMap(
      Store,
      (s) => Effect.forEach(pods, (pod) => NodeView.ensureLocal(s, config.node.name, pod), { discard: true })
    ).pipe(Effect.provide(storeLayer(config)))
  })
