/**
 * `tank nodes`: the nodes of a cluster (cluster mode only), like `kubectl get nodes`: ready or not,
 * age, addresses, labels, capacity and how many pods are bound to each.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Effect, Layer, type Option } from "effect"
import type { NodeRemoval, NodeRow } from "../api/nodes.js"
import { CliExit, dataDirOption, describe, jsonOption, loadConfig, out } from "./common.js"
import { type Format, formatOf, outputOption, printListing } from "./output.js"
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

const podList = (names: ReadonlyArray<string>) =>
  `${names.length} pod${names.length === 1 ? "" : "s"} (${names.slice(0, 10).join(", ")}${
    names.length > 10 ? ", …" : ""
  })`

/** What `tank nodes rm` did, in words (pure). */
export const removalText = (name: string, r: NodeRemoval): string =>
  [
    `node ${name} removed`,
    r.moving.length === 0 && r.pinned.length === 0 ? "no pods were bound to it" : undefined,
    r.moving.length > 0 ? `${podList(r.moving)} will be placed on other nodes by the scheduler` : undefined,
    r.pinned.length > 0
      ? `${podList(r.pinned)} pinned to it ${
        r.pinned.length === 1 ? "stays" : "stay"
      } unschedulable until a node named ${name} registers`
      : undefined
  ].filter((l) => l !== undefined).join("; ") + "\n"

/** The cluster config, or a CLI error saying cluster mode is needed. */
const clusterConfig = (dataDir: Option.Option<string>, what: string) =>
  Effect.gen(function*() {
    const config = yield* loadConfig(dataDir)
    if (!config.etcd) {
      return yield* new CliExit({
        code: 1,
        message: `${what} needs cluster mode: set store.etcd in the config or TANK_ETCD_ENDPOINTS ` +
          "(a single-machine Tank has no nodes)"
      })
    }
    return { ...config, etcd: config.etcd }
  })

/** `tank nodes rm NAME`: forget a decommissioned node; refused while it is ready. */
const rm = Command.make(
  "rm",
  { dataDir: dataDirOption, name: Args.text({ name: "NODE" }) },
  ({ dataDir, name }) =>
    Effect.gen(function*() {
      const config = yield* clusterConfig(dataDir, "tank nodes rm")
      const [Api, NodesEtcd, EtcdClient, EtcdStore] = yield* Effect.promise(() =>
        Promise.all([
          import("../api/nodes.js"),
          import("../cluster/nodesEtcd.js"),
          import("../etcd/client.js"),
          import("../store/etcd.js")
        ])
      )
      const r = yield* Api.removeNode(name).pipe(
        Effect.provide(
          Layer.merge(NodesEtcd.layerEtcd, EtcdStore.layerEtcd()).pipe(Layer.provide(EtcdClient.layer(config.etcd)))
        ),
        Effect.catchTag("ClusterError", (e) => new CliExit({ code: 1, message: e.message }))
      )
      if (!r.removed) return yield* new CliExit({ code: 1, message: `no node "${name}"` })
      yield* out(removalText(name, r))
    })
).pipe(Command.withDescription(describe(
  "nodes rm",
  "Forget a decommissioned node: its record goes and the scheduler binds its pods to other nodes.",
  [["tank nodes rm n3", "after n3 was shut down for good"]],
  "Refused while the node is ready (its agent runs): stop its agent first."
)))

export const nodes = Command.make(
  "nodes",
  { dataDir: dataDirOption, json: jsonOption, output: outputOption },
  ({ dataDir, json, output }: { dataDir: Option.Option<string>; json: boolean; output: Option.Option<Format> }) =>
    Effect.gen(function*() {
      const config = yield* clusterConfig(dataDir, "tank nodes")
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
      yield* printListing(formatOf({ json, output }), {
        value: rows,
        names: rows.map((r) => `node/${r.name}`),
        table: () => nodesTable(rows, Date.now())
      })
    })
).pipe(
  Command.withDescription(describe(
    "nodes",
    "List the nodes of a cluster (cluster mode): ready or not, age, addresses, capacity, pods bound, labels.",
    [
      ["tank nodes", "every node that ever registered"],
      ["tank nodes --json | jq -r '.[] | select(.ready | not) | .name'", "names of the nodes that are not ready"],
      ["tank nodes rm n3", "forget a decommissioned node (not while it is ready)"]
    ],
    "A node is Ready while its agent keeps its lease alive; NotReady (since when) once the lease expired.\n" +
      "PODS is bound/capacity. Needs store.etcd in the config or TANK_ETCD_ENDPOINTS."
  )),
  Command.withSubcommands([rm])
)
