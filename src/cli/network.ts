/**
 * `tank networks`: the address pools with their allocations; `tank port POD`: a pod's published
 * ports (like `docker port`); `tank network cleanup`: remove what Tank made on the host for networking
 * (its nftables table, its bridges and shims) while no agent runs.
 */
import * as Command from "@effect/cli/Command"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { TankConfigShape } from "../config/Config.js"
import type { Pool } from "../config/network.js"
import type { Pod } from "../spec/Pod.js"
import type { Allocation, Allocations } from "../store/Allocations.js"
import { CliExit, dataDirOption, describe, jsonOption, loadConfig, out, podArg, withStore } from "./common.js"
import { printJson } from "./output.js"
import { renderTable } from "./table.js"

/** Allocations from the store the config names (SQLite file or etcd). */
const allocationsLayer = (config: TankConfigShape): Layer.Layer<Allocations, unknown> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    if (config.etcd) {
      const [{ layerEtcd }, { layer }] = yield* Effect.promise(() =>
        Promise.all([import("../store/allocationsEtcd.js"), import("../etcd/client.js")])
      )
      return layerEtcd.pipe(Layer.provide(layer(config.etcd))) as Layer.Layer<Allocations, unknown>
    }
    if (!fs.existsSync(config.storeFile)) {
      const { layerMemory } = yield* Effect.promise(() => import("../store/allocationsMemory.js"))
      return layerMemory as Layer.Layer<Allocations, unknown>
    }
    const { layerSqlite } = yield* Effect.promise(() => import("../store/allocationsSql.js"))
    return layerSqlite(config.storeFile) as Layer.Layer<Allocations, unknown>
  }))

const listAllocations = (config: TankConfigShape) =>
  Effect.gen(function*() {
    const { Allocations } = yield* Effect.promise(() => import("../store/Allocations.js"))
    return yield* Effect.flatMap(Allocations, (a) => a.list).pipe(Effect.provide(allocationsLayer(config)))
  })

const range = (p: Pool) => {
  const ip = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")
  return `${ip(p.first)}-${ip(p.last)}`
}

/** The pools table and the allocations table `tank networks` prints (pure). */
export const networksTables = (
  pools: ReadonlyArray<Pool>,
  allocations: ReadonlyArray<Allocation>,
  domain: string
): string => {
  const poolRows = pools.map((p) => [
    p.name,
    p.kind === "bridge" ? `bridge ${p.bridge}` : `macvlan ${p.parent}${p.shim ? ` (shim ${p.shim.name})` : ""}`,
    p.subnet,
    p.gateway ?? "-",
    range(p),
    String(allocations.filter((a) => a.pool === p.name).length),
    p.dns.length ? p.dns.join(",") : "-"
  ])
  const rows = allocations.map((a) => [
    a.pool,
    a.address,
    a.holder.startsWith("host:") ? `(host ${a.holder.slice(5)})` : a.holder,
    a.nic,
    a.holder.startsWith("host:") || a.pool.startsWith("hostports") ? "-" : `${a.holder}.${domain}`
  ])
  return renderTable(["POOL", "KIND", "SUBNET", "GATEWAY", "RANGE", "USED", "DNS"], poolRows) + "\n" +
    (rows.length ? renderTable(["POOL", "ADDRESS", "POD", "NIC", "NAME"], rows) : "no allocations\n")
}

export const networks = Command.make(
  "networks",
  { dataDir: dataDirOption, json: jsonOption },
  ({ dataDir, json }) =>
    Effect.gen(function*() {
      const config = yield* loadConfig(dataDir)
      // Host id ranges of user-namespaced pods share the allocations table; they are not addresses.
      // (Imported here: the module and its store schemas would load with every `tank` command.)
      const { USERNS_POOL } = yield* Effect.promise(() => import("../runtime/userns/UserNamespaces.js"))
      const allocations = (yield* listAllocations(config)).filter((a) => a.pool !== USERNS_POOL)
      const pools = config.network.pools
      if (json) return yield* printJson({ domain: config.network.domain, pools, allocations })
      yield* out(networksTables(pools, allocations, config.network.domain).trimEnd())
    })
).pipe(Command.withDescription(describe(
  "networks",
  "List the address pools (from the config, with the default bridge pool) and every allocation: which pod " +
    "holds which address (and its DNS name), the host shims, the published host ports.",
  [["tank networks", "pools and allocations"], ["tank networks --json", "the same as JSON"]]
)))

/** `8080/tcp -> 0.0.0.0:18080`, one line per published port (docker's format). */
export const portLines = (pod: Pod): ReadonlyArray<string> =>
  typeof pod.network === "object"
    ? (pod.network.ports ?? []).map((p) => `${p.containerPort}/${p.protocol} -> ${p.hostIP ?? "0.0.0.0"}:${p.hostPort}`)
    : []

export const port = Command.make(
  "port",
  { dataDir: dataDirOption, pod: podArg, json: jsonOption },
  ({ dataDir, json, pod }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        const Api = yield* Effect.promise(() => import("../api/Api.js"))
        const spec = yield* Api.get(pod).pipe(
          Effect.catchTag("PodNotFound", (e) => new CliExit({ code: 1, message: e.message }))
        )
        if (json) {
          return yield* printJson(typeof spec.network === "object" ? spec.network.ports ?? [] : [])
        }
        const lines = portLines(spec)
        if (lines.length > 0) yield* out(lines.join("\n"))
      }), { readOnly: true })
).pipe(Command.withDescription(describe(
  "port",
  "List the ports a pod publishes on the host (network.ports of a bridge pod).",
  [["tank port web", "8080/tcp -> 0.0.0.0:18080"]]
)))

const liveAgent = (dataDir: string): number | undefined => {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, "agent.lock"), "utf8").trim())
    return Number.isInteger(pid) && pid > 0 && fs.existsSync(`/proc/${pid}`) ? pid : undefined
  } catch {
    return undefined
  }
}

const cleanup = Command.make("cleanup", { dataDir: dataDirOption }, ({ dataDir }) =>
  Effect.gen(function*() {
    const config = yield* loadConfig(dataDir)
    const pid = liveAgent(config.dataDir)
    if (pid !== undefined) {
      return yield* new CliExit({ code: 1, message: `the agent (pid ${pid}) is running: stop it first` })
    }
    const [{ deleteTable }, { linkIn, removeLink }, { Allocations }] = yield* Effect.promise(() =>
      Promise.all([import("../net/nft.js"), import("../net/bridge.js"), import("../store/Allocations.js")])
    )
    const done: Array<string> = []
    if (yield* deleteTable(undefined)) done.push("removed nftables table ip tank")
    // Only links of the kind Tank makes under those names: a link the host made is left alone.
    for (const p of config.network.pools) {
      for (const [link, kind] of [[p.bridge, "bridge"], [p.shim?.name, "macvlan"]] as const) {
        if (link === undefined) continue
        const found = yield* linkIn(undefined, link)
        if (found === undefined) continue
        if (found.kind !== kind) {
          done.push(`nothing for ${link}: it is a ${found.kind ?? "plain"} link, not a ${kind} Tank made (left alone)`)
          continue
        }
        if (yield* removeLink(undefined, link)) done.push(`removed link ${link}`)
      }
    }
    const released = yield* Effect.flatMap(Allocations, (a) => a.release(`host:${config.node.name}`)).pipe(
      Effect.provide(allocationsLayer(config))
    )
    for (const a of released) done.push(`released shim address ${a.address} (pool ${a.pool})`)
    yield* out(done.length ? done.join("\n") : "nothing to remove")
  })).pipe(Command.withDescription(describe(
    "network cleanup",
    "Remove what Tank made on this host for networking: its nftables table (ip tank), its bridges and host " +
      "shims. Pods on a bridge lose their connectivity; refused while the agent runs.",
    [["sudo tank network cleanup", "after stopping the agent, e.g. before uninstalling"]]
  )))

export const network = Command.make("network").pipe(
  Command.withDescription(describe("network", "Networking services: `tank network cleanup`.", [
    ["sudo tank network cleanup", "remove Tank's nftables table, bridges and host shims (agent stopped)"]
  ], "`tank networks` lists the address pools and allocations; `tank port POD` a pod's published ports.")),
  Command.withSubcommands([cleanup])
)
