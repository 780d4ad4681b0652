/**
 * The Store the configuration asks for: etcd when `store.etcd` is set (cluster mode), otherwise the
 * SQLite file. The SQLite path never loads the etcd modules (imported only in cluster mode: every
 * `tank` command that reads the store starts faster without them).
 *
 * In cluster mode the layer also carries the node registry (`Nodes`, over the same etcd client), so
 * readers can tell statuses of nodes that are not ready (`Api.statusReport` looks for it with
 * `Effect.serviceOption`; the type names only the Store).
 */
import type { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import type { TankConfigShape } from "../config/Config.js"
import { ensureDataDir } from "../config/privateDir.js"
import type { Etcd, EtcdError } from "../etcd/client.js"
import type { EtcdStoreOptions } from "./etcd.js"
import { layerMemory } from "./memory.js"
import { layerSql, sqliteClientLayer, type SqlStoreOptions } from "./sqlite.js"
import { type Store, StoreError } from "./Store.js"

export interface StoreLayerOptions {
  readonly sqlite?: SqlStoreOptions
  readonly etcd?: EtcdStoreOptions
  /**
   * The connection to build the store on, when the caller shares it (the agent: its one SQLite
   * connection also serves the allocations, its etcd client the registration and the election).
   * Default: a new one from the config. Only the one the config's backend uses is taken.
   */
  readonly connection?: {
    readonly sqlite?: Layer.Layer<SqlClient.SqlClient, StoreError>
    readonly etcd?: Layer.Layer<Etcd, EtcdError>
  }
}

export const storeLayer = (
  config: TankConfigShape,
  options: StoreLayerOptions = {}
): Layer.Layer<Store, StoreError | EtcdError> =>
  config.etcd
    ? Layer.unwrapEffect(Effect.gen(function*() {
      const [NodesEtcd, EtcdClient, EtcdStore] = yield* Effect.promise(() =>
        Promise.all([import("../cluster/nodesEtcd.js"), import("../etcd/client.js"), import("./etcd.js")])
      )
      return Layer.merge(EtcdStore.layerEtcd(options.etcd), NodesEtcd.layerEtcd).pipe(
        Layer.provide(options.connection?.etcd ?? EtcdClient.layer(config.etcd!))
      )
    }))
    : layerSql(options.sqlite).pipe(Layer.provide(options.connection?.sqlite ?? sqliteClientLayer(config.storeFile)))

/**
 * The store every process uses (Tank.*, the CLI, the REPL, the agent): `storeLayer`'s backend, with
 * the data dir made (private, marked) first for SQLite. `readOnly`: a command that only reads gets an
 * empty in-memory store instead of creating a data dir and database that do not exist yet. The agent
 * passes its shared connections (`connection`).
 */
export const storeFromConfig = (
  config: TankConfigShape,
  options: StoreLayerOptions & { readonly readOnly?: boolean } = {}
): Layer.Layer<Store, StoreError | EtcdError> =>
  config.etcd
    ? storeLayer(config, options)
    : options.readOnly && !fs.existsSync(config.storeFile)
    ? layerMemory
    : Layer.unwrapEffect(
      ensureDataDir(config).pipe(
        Effect.mapError((e) => new StoreError({ op: "open", message: `data dir ${e.message}` })),
        Effect.as(storeLayer(config, options))
      )
    )
