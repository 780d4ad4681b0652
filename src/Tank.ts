/**
 * Tank's front door for scripts and the REPL: every operation as an Effect that carries its own
 * default layers, so `Effect.runPromise(Tank.apply(spec))` works in a plain script.
 *
 * Defaults: config from `$TANK_CONFIG` / `<dataDir>/config.yaml` and env; the store it names: the
 * SQLite file under the data dir (`$TANK_DATA_DIR`, else `/var/lib/tank` for root and `~/.cache/tank`
 * for others; created 0700), or etcd in cluster mode
 * (`store.etcd`, `$TANK_ETCD_ENDPOINTS`). To compose your own layers, use `Api` with any `Store`
 * layer instead.
 */
import { Effect, Layer, Stream } from "effect"
import * as Api from "./api/Api.js"
import type { WaitCondition } from "./api/conditions.js"
import * as Watch from "./api/watch.js"
import * as Config from "./config/Config.js"
import type { EtcdError } from "./etcd/client.js"
import type { AttachOptions } from "./exec/Attach.js"
import type { CaptureOptions, ExecOptions } from "./exec/Exec.js"
import type { EventsOptions } from "./observe/events.js"
import type { LogsOptions } from "./observe/logs.js"
import type { PodInput } from "./spec/Pod.js"
import type { PodStatus } from "./store/status.js"
import type { Store } from "./store/Store.js"
import type { StoreError } from "./store/Store.js"

/**
 * The default store: the SQLite file the config names (created on first use), or etcd when the
 * config names it (its client is loaded only then).
 */
export const StoreLive: Layer.Layer<
  Store | Config.TankConfig,
  Config.ConfigError | StoreError | EtcdError
> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* Config.load()
    const { storeFromConfig } = yield* Effect.promise(() => import("./store/fromConfig.js"))
    return Layer.merge(storeFromConfig(config), Layer.succeed(Config.TankConfig, config))
  })
)

const withDefaults = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provide(eff, StoreLive)

/**
 * Validate and store a pod (create or replace); the agent converges. Typed as the canonical spec so
 * editors complete fields and flag typos; data of unknown shape (parsed files) goes through
 * `Api.apply`, which validates it just the same.
 */
export const apply = (spec: PodInput) => withDefaults(Api.apply(spec))
/** Apply several pods at once; if any is invalid, none is stored. */
export const applyAll = (specs: ReadonlyArray<PodInput>) => withDefaults(Api.applyAll(specs))
/**
 * A dry run of `applyAll`: validates every pod and says whether each would be created, configured
 * or unchanged (with the stored pod it would replace); nothing is stored.
 */
export const plan = (specs: ReadonlyArray<PodInput>) => withDefaults(Api.plan(specs))
/** The desired spec of one pod (fails with PodNotFound). */
export const get = (name: string) => withDefaults(Api.get(name))
/** All desired pods, sorted by name. */
export const list = () => withDefaults(Api.list)
/** Desired pods whose labels match a selector (`app=web,tier!=db`, `env in (a,b)`, `!legacy`). */
export const select = (selector: string) => withDefaults(Api.select(selector))
/** Remove a pod's desired state; the agent tears it down. */
export const remove = (nameOrPod: string | { readonly name: string }) => withDefaults(Api.remove(nameOrPod))
export { remove as delete }
/** Observed status: of one pod, or of all of them. */
export function status(): Effect.Effect<
  ReadonlyArray<PodStatus>,
  Config.ConfigError | StoreError | EtcdError
>
export function status(
  name: string
): Effect.Effect<PodStatus, Api.PodNotFound | Config.ConfigError | StoreError | EtcdError>
export function status(name?: string) {
  return name === undefined ? withDefaults(Api.statusAll) : withDefaults(Api.status(name))
}
/** Restart a pod and reset its backoff. */
export const restart = (name: string) => withDefaults(Api.restart(name))
/**
 * Wait until a pod is `running`, `ready`, `exited` or `deleted` (src/api/conditions.ts), from the
 * store's event feed; fails with WaitTimeout / ConditionUnreachable naming its last state.
 */
export const waitFor = (name: string, condition: WaitCondition, options: Watch.WaitOptions = {}) =>
  withDefaults(Watch.waitFor(name, condition, options))
/** Status changes of every pod (or one): the current state first, then each change, once, in order. */
export const watch = (name?: string) => Watch.watch(name).pipe(Stream.provideLayer(StoreLive))
/**
 * Stored records that cannot be read (pods, statuses, events), and their removal: `fix` removes
 * invalid statuses and events, `remove` the named pods' invalid records (see `tank doctor`).
 */
export const doctor = (options: Api.DoctorOptions = {}) => withDefaults(Api.doctor(options))

// -- interactive and observability: each loads its module on first use, so `Tank.apply` in a
// script does not pay for node-pty, koffi or netlink.

const configOnly = Layer.unwrapEffect(Effect.map(Config.load(), (c) => Layer.succeed(Config.TankConfig, c)))

/**
 * Cluster mode: exec, attach, logs and stats work on the node that runs the pod; for a pod bound to
 * another node they fail with PodOnOtherNode naming it (docs/cluster.md). Single-machine: no-op.
 */
const onThisNode = (pod: string) =>
  Effect.gen(function*() {
    const config = yield* Config.load()
    if (!config.etcd) return
    const [{ storeLayer }, NodeView, { Store }] = yield* Effect.promise(() =>
      Promise.all([import("./store/fromConfig.js"), import("./cluster/nodeView.js"), import("./store/Store.js")])
    )
    yield* Effect.flatMap(Store, (s) => NodeView.ensureLocal(s, config.node.name, pod)).pipe(
      Effect.provide(storeLayer(config))
    )
  })

/**
 * Run `argv` inside a running pod (docker exec): interactive on the caller's terminal when `tty`,
 * else with the caller's stdio. Resolves with `{ exited }` / `{ signaled }`.
 */
export const exec = (
  pod: string,
  argv: ReadonlyArray<string>,
  options: ExecOptions = {}
) =>
  onThisNode(pod).pipe(
    Effect.zipRight(Effect.promise(() => import("./exec/Exec.js"))),
    Effect.flatMap((m) => m.exec(pod, argv, options)),
    Effect.provide(configOnly)
  )

/** Run `argv` in a pod and capture stdout, stderr and the exit code (for scripts). */
export const execCapture = (
  pod: string,
  argv: ReadonlyArray<string>,
  options: CaptureOptions & { readonly encoding?: "utf8" } = {}
) =>
  onThisNode(pod).pipe(
    Effect.zipRight(Effect.promise(() => import("./exec/Exec.js"))),
    Effect.flatMap((m) => m.execCapture(pod, argv, options)),
    Effect.provide(configOnly)
  )

/** Take over a `tty: true` pod's main process (docker attach); Ctrl-P Ctrl-Q detaches. */
export const attach = (pod: string, options: AttachOptions = {}) =>
  onThisNode(pod).pipe(
    Effect.zipRight(Effect.promise(() => import("./exec/Attach.js"))),
    Effect.flatMap((m) => m.attach(pod, options)),
    Effect.provide(configOnly)
  )

/** A pod's log records (tail, since, follow ...) as a Stream. */
export const logs = (pod: string, options: LogsOptions = {}) =>
  Stream.unwrap(
    onThisNode(pod).pipe(
      Effect.zipRight(Effect.promise(() => import("./observe/logs.js"))),
      Effect.map((m) => m.logs(pod, options))
    )
  ).pipe(Stream.provideLayer(StoreLive))

/** CPU, memory, pids and network counters of a running pod (two samples `intervalMs` apart). */
export const stats = (pod: string, options: { readonly intervalMs?: number } = {}) =>
  Effect.gen(function*() {
    yield* onThisNode(pod)
    const [m, cg, net] = yield* Effect.promise(() =>
      Promise.all([import("./observe/stats.js"), import("./cgroups/Cgroups.js"), import("./net/NetworkLive.js")])
    )
    return yield* m.stats(pod, options).pipe(
      Effect.provide(Layer.mergeAll(configOnly, cg.Cgroups.layer, net.NetworkLive))
    )
  })

/**
 * Cluster mode: every node that ever registered, ready or not, sorted by name, with the number of
 * pods bound to it. Fails with a ConfigError naming `store.etcd` on a single machine (no nodes).
 */
export const nodes = () =>
  Effect.gen(function*() {
    const config = yield* Config.load()
    if (!config.etcd) {
      return yield* new Config.ConfigError({
        field: "store.etcd",
        reason: "Tank.nodes needs cluster mode (store.etcd or TANK_ETCD_ENDPOINTS); a single machine has no nodes"
      })
    }
    const [NodesApi, NodesEtcd, EtcdClient, EtcdStore] = yield* Effect.promise(() =>
      Promise.all([
        import("./api/nodes.js"),
        import("./cluster/nodesEtcd.js"),
        import("./etcd/client.js"),
        import("./store/etcd.js")
      ])
    )
    return yield* NodesApi.nodes.pipe(
      Effect.provide(
        Layer.merge(NodesEtcd.layerEtcd, EtcdStore.layerEtcd()).pipe(Layer.provide(EtcdClient.layer(config.etcd)))
      )
    )
  })

/** Pod events from the agent (any process), oldest first; `follow` keeps the stream open. */
export const events = (options: EventsOptions = {}) =>
  Stream.unwrap(Effect.map(Effect.promise(() => import("./observe/events.js")), (m) => m.events(options))).pipe(
    Stream.provideLayer(StoreLive)
  )
