// Helpers for the etcd Store tests: stores and raw clients on a test etcd, etcdctl, the leader.
import { Context, Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { promisify } from "node:util"
import type { EtcdConfig } from "../../src/config/Config.js"
import { Etcd, layer as etcdLayer } from "../../src/etcd/client.js"
import { type EtcdStoreOptions, layerEtcd } from "../../src/store/etcd.js"
import { Store } from "../../src/store/Store.js"
import type { EtcdCluster } from "../support/etcd.js"

export const freshPrefix = () => `/t-${randomBytes(4).toString("hex")}/`

const config = (endpoints: ReadonlyArray<string>, prefix: string, extra: Partial<EtcdConfig> = {}): EtcdConfig => ({
  endpoints: [endpoints[0]!, ...endpoints.slice(1)],
  prefix,
  ...extra
})

/** A Store on its own etcd client, open until the current scope closes. */
export const storeOn = (
  endpoints: ReadonlyArray<string>,
  prefix: string,
  options?: EtcdStoreOptions,
  extra?: Partial<EtcdConfig>
) =>
  Layer.build(layerEtcd(options).pipe(Layer.provide(etcdLayer(config(endpoints, prefix, extra))))).pipe(
    Effect.map((ctx) => Context.get(ctx, Store)),
    Effect.orDie
  )

/** A raw etcd client (namespaced like the Store's), to write behind the Store's back. */
export const rawOn = (endpoints: ReadonlyArray<string>, prefix: string) =>
  Layer.build(etcdLayer(config(endpoints, prefix))).pipe(Effect.map((ctx) => Context.get(ctx, Etcd)), Effect.orDie)

/** A Store on an existing client (to share its watch stream with raw watchers). */
export const storeOnClient = (etcd: Context.Tag.Service<typeof Etcd>, options?: EtcdStoreOptions) =>
  Layer.build(layerEtcd(options).pipe(Layer.provide(Layer.succeed(Etcd, etcd)))).pipe(
    Effect.map((ctx) => Context.get(ctx, Store))
  )

const run = promisify(execFile)

export const etcdctl = (endpoints: ReadonlyArray<string>, ...args: Array<string>) =>
  Effect.promise(() =>
    run("etcdctl", [`--endpoints=${endpoints.join(",")}`, ...args], { env: { ...process.env, ETCDCTL_API: "3" } })
  ).pipe(Effect.map((r) => r.stdout))

/** Index of the current leader among the running members. */
export const leaderIndex = (cluster: EtcdCluster) =>
  Effect.gen(function*() {
    const running = cluster.members.filter((m) => m.running())
    const out = yield* etcdctl(running.map((m) => m.clientUrl), "endpoint", "status", "-w", "json")
    const rows = JSON.parse(out) as Array<
      { Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }
    >
    const leader = rows.find((r) => String(r.Status.leader) === String(r.Status.header.member_id))
    if (!leader) return yield* Effect.dieMessage(`no leader among ${out}`)
    return cluster.members.findIndex((m) => m.clientUrl === leader.Endpoint)
  })
