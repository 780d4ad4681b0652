/**
 * `tank nodes`: the nodes of a cluster (cluster mode only), like `kubectl get nodes`: ready or not,
 * age, addresses, labels, capacity and how many pods are bound to each.
 */
import * as Command from "@effect/cli/Command"
import { Effect, Layer, type Option } from "effect"
import type { NodeRow } from "../api/nodes.js"
import { CliExit, dataDirOption, describe, jsonOption, loadConfig, out } from "./common.js"
import { printJson } from "./output.js"
import { ageSince, formatBytes, renderTable } from "./table.js"

/** `1.5` cores from millicores; whole numbers without a point. */
const cores = (milli: number) => Number.isInteger(milli / 1000) ? String(milli / 1000) : (milli / 1000).toFixed(1)

/** The table `tank nodes` prints (pure: `now` is passed in). */
export const nodesTable = (rows: ReadonlyArray<NodeRow>, now: number): string =>
  renderTable(
    ["NAME", "STATUS", "AGE", "ADDRESSES", "CPU", "MEMORY", "PODS", "LABELS"],
    rows.map((r) => [
      r.name,
      r.ready ? "Ready" : r.notReadySince ? `NotReady (${ageSince(r.notReadySince, now)})` : "NotReady",
      ageSince(r.registeredAt, now),
      r.addresses.length ? r.addresses.join(",") : "-",
      cores(r.capacity.cpu),
      formatBytes(r.capacity.memory),
      `${r.pods}/${r.capacity.pods}`,
      Object.keys(r.labels).length
        ? Object.entries(r.labels).sort(([a], [b]) => a < b ? -1 : 1).map(([k, v]) => `${k}=${v}`).join(",")
        : "-"
    ])
  )

export const nodes = Command.make(
  "nodes",
  { dataDir: dataDirOption, json: jsonOption },
  ({ dataDir, json }: { dataDir: Option.Option<string>; json: boolean }) =>
    Effect.gen(function*() {
      const config = yield* loadConfig(dataDir)
      if (!config.etcd) {
        return yield* new CliExit({
          code: 1,
          message: "tank nodes needs cluster mode: set store.etcd in the config or TANK_ETCD_ENDPOINTS " +
            "(a single-machine Tank has no nodes to list)"
        })
      }
      const [Api, NodesEtcd, EtcdClient, EtcdStore] = yield* Effect.promise(() =>
        Promise.all([
          import("../api/nodes.js"),
          import("../cluster/nodesEtcd.js"),
          import("../etcd/client.js"),
          import("../store/etcd.js")
        ])
      )
      // One etcd client for both the registry and the store.
      const rows = yield* Api.nodes.pipe(
        Effect.provide(
          Layer.merge(NodesEtcd.layerEtcd, EtcdStore.layerEtcd()).pipe(Layer.provide(EtcdClient.layer(config.etcd)))
        )
      )
      yield* json ? printJson(rows) : out(nodesTable(rows, Date.now()))
    })
).pipe(Command.withDescription(describe(
  "nodes",
  "List the nodes of a cluster (cluster mode): ready or not, age, addresses, capacity, pods bound, labels.",
  [
    ["tank nodes", "every node that ever registered"],
    ["tank nodes --json | jq -r '.[] | select(.ready | not) | .name'", "names of the nodes that are not ready"]
  ],
  "A node is Ready while its agent keeps its lease alive; NotReady (since when) once the lease expired.\n" +
    "PODS is bound/capacity. Needs store.etcd in the config or TANK_ETCD_ENDPOINTS."
)))
