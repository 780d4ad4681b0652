/**
 * The Store the configuration asks for: etcd when `store.etcd` is set (cluster mode), otherwise the
 * SQLite file. The SQLite path never loads the etcd modules (imported only in cluster mode: every
 * `tank` command that reads the store starts faster without them).
 *
 * In cluster mode the layer also carries the node registry (`Nodes`, over the same etcd client), so
 * readers can tell statuses of nodes that are not ready (`Api.statusReport` looks for it with
 * `Effect.serviceOption`; the type names only the Store).
 */
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import type { TankConfigShape } from "../config/Config.js"
import { ensureDataDir } from "../config/privateDir.js"
import type { EtcdError } from "../etcd/client.js"
import type { EtcdStoreOptions } from "./etcd.js"
import { layerMemory } from "./memory.js"
import { layerSqlite, type SqlStoreOptions } from "./sqlite.js"
import { type Store, StoreError } from "./Store.js"

export interface StoreLayerOptions {
  readonly sqlite?: SqlStoreOptions
  readonly etcd?: EtcdStoreOptions
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
        Layer.provide(EtcdClient.layer(config.etcd!))
      )
    }))
    : layerSqlite(config.storeFile, options.sqlite)

/**
 * The store a client (Tank.*, the CLI, the REPL) uses: `storeLayer`'s backend, with the data dir
 * made (private, marked) first for SQLite. `readOnly`: a command that only reads gets an empty
 * in-memory store instead of creating a data dir and database that do not exist yet. (The agent
 * builds its own: its SQLite connection is shared with the allocations, Agent.ts.)
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
