/**
 * The agent: one long-lived process per data dir that converges the machine to the Store.
 *
 * It is a layer graph (Config → lock → Store → seed; Host, Images, Cgroups, Network → Runtime →
 * Reconciler). With `store.etcd` configured it is one node of a cluster (./cluster.ts,
 * docs/cluster.md): the reconciler converges only the pods bound to this node.
 *
 * Users can launch the same agent with their own Host layer:
 *
 *   Agent.run({ host: Host.Static({ uplink: "eth0" }) })          // or any Layer<Host>
 */
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import { seed } from "../api/Api.js"
import { Cgroups } from "../cgroups/Cgroups.js"
import * as Config from "../config/Config.js"
import { ensureDataDir } from "../config/privateDir.js"
import { Host } from "../host/Host.js"
import { imagesOptions } from "../image/fromConfig.js"
import * as Images from "../image/Images.js"
import { NetworkLive } from "../net/NetworkLive.js"
import * as PodNetworksLive from "../net/PodNetworksLive.js"
import * as Probers from "../probes/Prober.js"
import type { Reconciler } from "../reconciler/Reconciler.js"
import * as ReconcilerLive from "../reconciler/ReconcilerLive.js"
import * as RuntimeLive from "../runtime/RuntimeLive.js"
import { idPool } from "../runtime/userns/subid.js"
import * as UserNs from "../runtime/userns/UserNamespaces.js"
import type { Allocations } from "../store/Allocations.js"
import * as AllocationsSql from "../store/allocationsSql.js"
import { storeFromConfig } from "../store/fromConfig.js"
import { sqliteClientLayer } from "../store/sqlite.js"
import { Store } from "../store/Store.js"
import * as Lock from "./lock.js"

export interface AgentOptions {
  /** Overrides TANK_DATA_DIR / the config file's dataDir. */
  readonly dataDir?: string
  /** Your own Host layer (default: Host.Static from the config). */
  readonly host?: Layer.Layer<Host>
  /** Overrides the config's stopPodsOnExit. */
  readonly stopPodsOnExit?: boolean
  /** Runtime knobs (tests put macvlan parents in a hub namespace). */
  readonly runtime?: RuntimeLive.RuntimeOptions
  /** Network services knobs (tests give a namespace that plays the host: bridges, nftables, DNS, shims). */
  readonly network?: PodNetworksLive.PodNetworksOptions
  /** Already-resolved config (embedding, tests); else loaded from file and env. */
  readonly config?: Config.TankConfigShape
  /** The web dashboard (docs/web.md): `listen` overrides the config's `web.listen` (`tank daemon --web`). */
  readonly web?: {
    readonly listen?: string
    /** Where the client bundle is (tests); default: beside the CLI bundle or in dist/web. */
    readonly assetsDir?: string
    /** Gets the dashboard URL with its token once listening (print it; never log it). */
    readonly onListening?: (urls: { readonly base: string; readonly withToken: string }) => Effect.Effect<void>
  }
}

/** The dashboard's settings: the config's, with `options.web.listen` over its address. */
const webSettings = (config: Config.TankConfigShape, options: AgentOptions) =>
  Effect.gen(function*() {
    const listen = options.web?.listen
    if (listen === undefined) return config.web
    const { isWebProblem, resolveWeb } = yield* Effect.promise(() => import("../web/config.js"))
    const web = resolveWeb(config.web ?? {}, { listen, field: "--web" })
    if (isWebProblem(web)) return yield* new Config.ConfigError({ field: web.field, reason: web.reason })
    return web
  })

/** Everything the agent runs, as one layer; building it takes the data dir's agent lock. */
export const layer = (
  options: AgentOptions = {}
): Layer.Layer<Reconciler | Store | Config.TankConfig | Images.Images, unknown> =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const config = options.config ?? (yield* Config.load(options.dataDir ? { dataDir: options.dataDir } : {}))
      const web = yield* webSettings(config, options)
      // Private to the agent's user: extracted layers hold image-chosen setuid binaries and device nodes.
      yield* ensureDataDir(config)
      yield* Lock.acquire(config.dataDir)
      const configLayer = Layer.succeed(Config.TankConfig, config)
      // Cluster mode: the whole store for clients and the seed, this node's view for the reconciler,
      // node registration and the scheduler in the background. Loaded only with etcd configured.
      const cluster = config.etcd
        ? (yield* Effect.promise(() => import("./cluster.js"))).layers(config)
        : undefined
      // One SQLite connection for the store and the allocations (see sqliteClientLayer); in cluster
      // mode one etcd client for the store, the registration and the election.
      const sqlite = sqliteClientLayer(config.storeFile)
      const baseStore: Layer.Layer<Store, unknown> = storeFromConfig(config, {
        connection: cluster ? { etcd: cluster.etcd } : { sqlite }
      })
      // With the dashboard, status writes are also published to it (web/statusFeed.ts).
      const Web = web ? yield* Effect.promise(() => import("../web/index.js")) : undefined
      const withFeed = Web?.StatusFeed.decorate(baseStore)
      const store = withFeed ?? baseStore
      const seeded = Layer.effectDiscard(
        Effect.gen(function*() {
          const written = yield* seed(config.seed)
          if (written.length) yield* Effect.logInfo(`seeded pods: ${written.join(", ")}`)
        })
      )
      const images = Images.layer(imagesOptions(config))
      const host = options.host ?? Host.FromConfig.pipe(Layer.provide(configLayer))
      const machine = Layer.mergeAll(configLayer, host, images, Cgroups.layer, NetworkLive)
      // Pools, bridges, ports, DNS and shims; allocations live beside the pods (SQLite file or etcd).
      const allocations: Layer.Layer<Allocations, unknown> = cluster?.allocations ??
        AllocationsSql.layerSql.pipe(Layer.provide(sqlite))
      const podNetworks = PodNetworksLive.layer({
        ...(options.runtime?.parentNetns !== undefined ? { parentNetns: options.runtime.parentNetns } : {}),
        ...(options.runtime?.macSeed !== undefined ? { macSeed: options.runtime.macSeed } : {}),
        ...options.network
      }).pipe(Layer.provide(Layer.mergeAll(configLayer, host, NetworkLive, allocations, store)))
      // Host id ranges of hostUsers: false pods, claimed in the same allocations as addresses.
      const userNamespaces = UserNs.layerAllocations(idPool(config.userNamespaces.range, subidFiles())).pipe(
        Layer.provide(allocations)
      )
      const runtime = RuntimeLive.layer(options.runtime).pipe(
        Layer.provide(Layer.mergeAll(machine, podNetworks, userNamespaces))
      )
      const r = config.reconciler
      const reconciler = ReconcilerLive.layer({
        resyncIntervalMs: r.resyncIntervalMs,
        backoff: { baseMs: r.backoffBaseMs, capMs: r.backoffCapMs, stableWindowMs: r.stableWindowMs },
        stopPodsOnExit: options.stopPodsOnExit ?? config.stopPodsOnExit,
        agentPid: process.pid,
        stopGracePeriodMs: r.stopGracePeriodMs
      }).pipe(Layer.provide(Probers.layer.pipe(Layer.provide(Layer.merge(configLayer, images)))))
      const storeAndSeed = Layer.provideMerge(seeded, store)
      const converging = cluster
        ? Layer.merge(
          reconciler.pipe(Layer.provide(Layer.merge(cluster.view(baseStore), runtime))),
          cluster.background(baseStore)
        )
        : reconciler
      const dashboard = Web && web && withFeed
        ? Web.layer({
          config: web,
          dataDir: config.dataDir,
          ...(options.web?.assetsDir ? { assetsDir: options.web.assetsDir } : {}),
          ...(options.web?.onListening ? { onListening: options.web.onListening } : {})
        }).pipe(Layer.provide(Layer.mergeAll(withFeed, configLayer, machine, cluster?.nodes ?? Layer.empty)))
        : Layer.empty
      return Layer.merge(converging, dashboard).pipe(
        Layer.provideMerge(Layer.mergeAll(storeAndSeed, runtime, configLayer, images))
      )
    })
  )

/** /etc/subuid and /etc/subgid as text (undefined when missing): where Tank's `tank` range is. */
const subidFiles = () => {
  const read = (f: string) => {
    try {
      return fs.readFileSync(f, "utf8")
    } catch {
      return undefined
    }
  }
  return { subuid: read("/etc/subuid"), subgid: read("/etc/subgid") }
}

/** Run the agent until interrupted (SIGINT/SIGTERM under NodeRuntime.runMain). */
export const run = (options: AgentOptions = {}) => Layer.launch(layer(options))

/** Is an agent running for this data dir? Its pid, or null. */
export const runningAgent = (dataDir: string) => Lock.holder(dataDir)

export { Store }
