/**
 * Tank: a declarative, single-node container orchestrator on Effect.
 *
 *   import { Effect } from "effect"
 *   import { Tank } from "tank"
 *   await Effect.runPromise(Tank.apply({ name: "web", containers: [{ name: "app", image: "busybox" }] }))
 */
export * as Agent from "./agent/Agent.js"
export * as Api from "./api/Api.js"
export { WAIT_CONDITIONS, type WaitCondition } from "./api/conditions.js"
export { ConditionUnreachable, type PodChange, waitFor, type WaitOptions, WaitTimeout, watch } from "./api/watch.js"
export * as Config from "./config/Config.js"
export { CpInvalid, CpLocalFailed, CpPodFailed, CpRefused } from "./exec/cp/errors.js"
export { Host, NoUplink } from "./host/Host.js"
export { decodePod, encodePod, InvalidSpec } from "./spec/decode.js"
export * as Spec from "./spec/Pod.js"
export { InvalidSelector, matches, parseSelector, type Selector } from "./spec/selector.js"
export { layerMemory as StoreMemory } from "./store/memory.js"
export { layerSql as StoreSql, layerSqlite as StoreSqlite } from "./store/sqlite.js"
export * as Status from "./store/status.js"
export { InvalidRecord, Store } from "./store/Store.js"
export * as Tank from "./Tank.js"
