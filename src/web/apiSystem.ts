/**
 * /api/networks, /api/nodes, /api/system: what the machine and the agent look like. Address pools
 * are not part of Tank yet (the networking-services work): `pools` is null until they are.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import { Context, Effect, Option } from "effect"
import * as os from "node:os"
import { nodes as nodeRows } from "../api/nodes.js"
import { Nodes } from "../cluster/Cluster.js"
import { TankConfig } from "../config/Config.js"
import { Host } from "../host/Host.js"
import { Store } from "../store/Store.js"
import { handle, json } from "./http.js"

/** Facts about this agent and its dashboard, for /api/system. */
export class WebInfo extends Context.Tag("tank/web/WebInfo")<WebInfo, {
  readonly version: string
  readonly startedAt: Date
  /** The dashboard's base URL (no token). */
  readonly url: string
  readonly tls: boolean
}>() {}

const networks = Effect.gen(function*() {
  const store = yield* Store
  const config = yield* TankConfig
  const host = yield* Effect.serviceOption(Host)
  const uplink = Option.isSome(host)
    ? yield* host.value.uplink.pipe(Effect.option, Effect.map(Option.getOrUndefined))
    : config.host.uplink
  const dns = Option.isSome(host) ? yield* host.value.dns : config.host.dns
  const [{ pods }, { statuses }] = yield* Effect.all([store.list, store.listStatus])
  const addresses = new Map(statuses.map((s) => [s.name, s.addresses ?? []]))
  return json({
    host: { uplink: uplink ?? null, dns },
    pools: null,
    pods: pods.map((p) => {
      const n = p.spec.network
      return {
        name: p.name,
        mode: typeof n === "string" ? n : "nics",
        nics: typeof n === "string" ? [] : n.nics,
        dns: typeof n === "string" ? [] : n.dns,
        addresses: addresses.get(p.name) ?? []
      }
    })
  })
})

const nodes = Effect.gen(function*() {
  const registry = yield* Effect.serviceOption(Nodes)
  const config = yield* TankConfig
  if (Option.isNone(registry)) return json({ cluster: false, self: config.node.name, nodes: [] })
  const rows = yield* nodeRows.pipe(Effect.provideService(Nodes, registry.value))
  return json({ cluster: true, self: config.node.name, nodes: rows })
})

const system = Effect.gen(function*() {
  const config = yield* TankConfig
  const info = yield* WebInfo
  const store = yield* Store
  const [pods, statuses] = yield* Effect.all([store.list, store.listStatus])
  return json({
    version: info.version,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    hostname: os.hostname(),
    cpus: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    dataDir: config.dataDir,
    store: config.etcd
      ? { kind: "etcd", endpoints: config.etcd.endpoints, prefix: config.etcd.prefix }
      : { kind: "sqlite", file: config.storeFile },
    agent: {
      pid: process.pid,
      startedAt: info.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - info.startedAt.getTime()) / 1000),
      rssBytes: process.memoryUsage().rss
    },
    dashboard: { url: info.url, tls: info.tls },
    pods: { declared: pods.pods.length, running: statuses.statuses.filter((s) => s.phase === "running").length }
  })
})

export const systemRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/api/networks", handle(networks)),
  HttpRouter.get("/api/nodes", handle(nodes)),
  HttpRouter.get("/api/system", handle(system))
)
