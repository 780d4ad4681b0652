/**
 * The agent's cluster half (config `store.etcd`): the store in etcd, this machine registered as a
 * node under a lease, the scheduler campaigning for leadership in the background, and the node's
 * view of the store for the reconciler. Loaded only when etcd is configured, so a single-machine
 * agent never loads gRPC.
 */
import { Effect, Layer, Schedule } from "effect"
import * as os from "node:os"
import { ClusterError, Election, type NodeInfo, Nodes } from "../cluster/Cluster.js"
import * as ElectionEtcd from "../cluster/electionEtcd.js"
import * as NodesEtcd from "../cluster/nodesEtcd.js"
import * as NodeView from "../cluster/nodeView.js"
import { runScheduler } from "../cluster/scheduler.js"
import type { TankConfigShape } from "../config/Config.js"
import * as EtcdClient from "../etcd/client.js"
import type { Allocations } from "../store/Allocations.js"
import * as AllocationsEtcd from "../store/allocationsEtcd.js"
import type { Store } from "../store/Store.js"

/** The machine's addresses worth showing: every non-loopback address, IPv4 first. */
export const hostAddresses = (
  interfaces: ReturnType<typeof os.networkInterfaces> = os.networkInterfaces()
): ReadonlyArray<string> => {
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter((a) => !a.internal)
  // Link-local IPv6 addresses are only meaningful with their interface: not useful to show.
  const useful = all.filter((a) => !(a.family === "IPv6" && a.address.toLowerCase().startsWith("fe80:")))
  return [...useful.filter((a) => a.family === "IPv4"), ...useful.filter((a) => a.family !== "IPv4")]
    .map((a) => a.address)
}

/** What this agent registers about its machine. */
export const nodeInfo = (config: TankConfigShape, now = new Date()): NodeInfo => ({
  name: config.node.name,
  addresses: hostAddresses(),
  capacity: config.node.capacity,
  labels: config.node.labels,
  agentPid: process.pid,
  registeredAt: now.toISOString()
})

export interface ClusterLayers {
  /** The one etcd client: give it to `storeFromConfig` (connection.etcd) for the whole store. */
  readonly etcd: Layer.Layer<EtcdClient.Etcd, EtcdClient.EtcdError>
  /** Address allocations, shared by every node (src/store/allocationsEtcd.ts). */
  readonly allocations: Layer.Layer<Allocations, unknown>
  /** This node's view of the whole store, for the reconciler. */
  readonly view: (store: Layer.Layer<Store, unknown>) => Layer.Layer<Store, unknown>
  /** Node registration and the scheduler campaign (over the whole store), for as long as the agent runs. */
  readonly background: (store: Layer.Layer<Store, unknown>) => Layer.Layer<never, unknown>
  /** The node registry (the dashboard's nodes page). */
  readonly nodes: Layer.Layer<Nodes, unknown>
}

export const layers = (config: TankConfigShape): ClusterLayers => {
  const etcdConfig = config.etcd!
  const self = config.node.name
  // One etcd client for the store, the registration and the election.
  const etcd = EtcdClient.layer(etcdConfig)
  const nodes = NodesEtcd.layerEtcd.pipe(Layer.provide(etcd))
  // The campaign's lease has the node's TTL: a dead leader is replaced as soon as its node reads not ready.
  const election = ElectionEtcd.layerEtcdWith({ ttlSeconds: config.node.leaseTtlSeconds, candidate: self }).pipe(
    Layer.provide(etcd)
  )
  const registered = Layer.scopedDiscard(
    Effect.gen(function*() {
      const info = nodeInfo(config)
      const nodes = yield* Nodes
      // etcd may come up a little after the agent (a reboot): keep trying for as long as the store
      // does (30 s), then fail naming what could not be reached.
      yield* nodes.register(info, config.node.leaseTtlSeconds).pipe(
        Effect.tapError((e) => Effect.logWarning(`node ${self}: registration failed, retrying: ${e.message}`)),
        Effect.retry(Schedule.spaced("1 second").pipe(Schedule.upTo("30 seconds"))),
        Effect.mapError((e) =>
          new ClusterError({
            op: "register",
            message: `node ${self} could not register with etcd at ${etcdConfig.endpoints.join(",")}: ${e.message}`,
            cause: e
          })
        )
      )
      yield* Effect.logInfo(
        `node ${self} registered (${
          info.addresses.join(", ") || "no addresses"
        }; lease ${config.node.leaseTtlSeconds}s)`
      )
    })
  )
  const scheduler = Layer.scopedDiscard(
    Effect.gen(function*() {
      const e = yield* Election
      yield* Effect.forkScoped(
        e.lead(
          Effect.logInfo(`node ${self} leads the scheduler`).pipe(
            Effect.zipRight(runScheduler({
              lostAfterSeconds: config.node.lostAfterSeconds,
              self,
              resyncIntervalMs: config.reconciler.resyncIntervalMs
            }))
          )
        ).pipe(
          // The campaign only ends on interruption; anything else is worth a line and a retry.
          Effect.tapError((e) => Effect.logWarning(`scheduler campaign failed; retrying: ${e.message}`)),
          Effect.retry({ schedule: Schedule.spaced("1 second") })
        )
      )
    })
  )
  return {
    etcd,
    nodes,
    allocations: AllocationsEtcd.layerEtcd.pipe(Layer.provide(etcd)),
    view: (store) => NodeView.layer(self).pipe(Layer.provide(store)),
    background: (store) =>
      Layer.mergeAll(registered, scheduler).pipe(Layer.provide(Layer.mergeAll(nodes, election, store)))
  }
}
