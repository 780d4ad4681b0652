/**
 * The Store the configuration asks for: etcd when `store.etcd` is set (cluster mode), otherwise the
 * SQLite file. The SQLite path never loads the etcd client (src/etcd/client.ts imports it lazily).
 *
 * In cluster mode the layer also carries the node registry (`Nodes`, over the same etcd client), so
 * readers can tell statuses of nodes that are not ready (`Api.statusReport` looks for it with
 * `Effect.serviceOption`; the type names only the Store).
 */
import { Layer } from "effect"
import * as NodesEtcd from "../cluster/nodesEtcd.js"
import type { TankConfigShape } from "../config/Config.js"
import { type EtcdError, layer as etcdLayer } from "../etcd/client.js"
import { type EtcdStoreOptions, layerEtcd } from "./etcd.js"
import { layerSqlite, type SqlStoreOptions } from "./sqlite.js"
import type { Store, StoreError } from "./Store.js"

export interface StoreLayerOptions {
  readonly sqlite?: SqlStoreOptions
  readonly etcd?: EtcdStoreOptions
}

export const storeLayer = (
  config: TankConfigShape,
  options: StoreLayerOptions = {}
): Layer.Layer<Store, StoreError | EtcdError> =>
  config.etcd
    ? Layer.merge(layerEtcd(options.etcd), NodesEtcd.layerEtcd).pipe(Layer.provide(etcdLayer(config.etcd)))
    : layerSqlite(config.storeFile, options.sqlite)
