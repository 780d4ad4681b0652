/**
 * The Store the configuration asks for: etcd when `store.etcd` is set (cluster mode), otherwise the
 * SQLite file. The SQLite path never loads the etcd client (src/etcd/client.ts imports it lazily).
 */
import { Layer } from "effect"
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
    ? layerEtcd(options.etcd).pipe(Layer.provide(etcdLayer(config.etcd)))
    : layerSqlite(config.storeFile, options.sqlite)
