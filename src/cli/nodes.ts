/**
 * `tank nodes`: the nodes of a cluster (cluster mode only), like `kubectl get nodes`: ready or not,
 * age, addresses, labels, capacity and how many pods are bound to each.
 */
import * as Command from "@effect/cli/Command"
import { Effect, Layer, type Option } from "effect"
import type { NodeState } from "../cluster/Cluster.js"
import type { StoredPod } from "../store/Store.js"
import { CliExit, dataDirOption, describe, jsonOption, loadConfig, out } from "./common.js"
import { printJson } from "./output.js"
import { ageSince, formatBytes, renderTable } from "./table.js"

export interface NodeRow {
  readonly name: string
  readonly ready: boolean
  readonly notReadySince?: string
  readonly registeredAt: string
  readonly addresses: ReadonlyArray<string>
  readonly labels: Readonly<Record<string, string>>
  readonly capacity: { readonly cpu: number; readonly memory: number; readonly pods: number }
  /** Pods bound to the node now. */
  readonly pods: number
  readonly agentPid: number
}

/** One row per node, sorted by name, with the count of pods bound to it (pure). */
export const nodeRows = (nodes: ReadonlyArray<NodeState>, pods: ReadonlyArray<StoredPod>): Array<NodeRow> => {
  const bound = new Map<string, number>()
  for (const p of pods) if (p.node !== null) bound.set(p.node, (bound.get(p.node) ?? 0) + 1)
  return [...nodes]
    .sort((a, b) => a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0)
    .map((n) => ({
      name: n.info.name,
      ready: n.ready,
      ...(n.notReadySince !== undefined ? { notReadySince: n.notReadySince } : {}),
      registeredAt: n.info.registeredAt,
      addresses: n.info.addresses,
      labels: n.info.labels,
      capacity: n.info.capacity,
      pods: bound.get(n.info.name) ?? 0,
      agentPid: n.info.agentPid
    }))
}

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
      const [{ Nodes }, NodesEtcd, EtcdClient, { storeLayer }, { Store }] = yield* Effect.promise(() =>
        Promise.all([
          import("../cluster/Cluster.js"),
          import("../cluster/nodesEtcd.js"),
          import("../etcd/client.js"),
          import("../store/fromConfig.js"),
          import("../store/Store.js")
        ])
      )
      const rows = yield* Effect.gen(function*() {
        const [states, pods] = yield* Effect.all([
          Effect.flatMap(Nodes, (n) => n.list),
          Effect.flatMap(Store, (s) => s.list)
        ], {
          concurrency: 2
        })
        return nodeRows(states, pods)
      }).pipe(
        Effect.provide(
          Layer.merge(NodesEtcd.layerEtcd.pipe(Layer.provide(EtcdClient.layer(config.etcd))), storeLayer(config))
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
