/**
 * Test helpers for the cluster layers on a real etcd: a client layer per "agent" (each its own
 * connection, like separate processes), node records, and reading/revoking leases from outside.
 */
import { Effect } from "effect"
import type { NodeInfo } from "../../src/cluster/Cluster.js"
import { Etcd, layer as etcdLayer } from "../../src/etcd/client.js"

export const clientLayer = (endpoints: ReadonlyArray<string>, prefix: string) =>
  etcdLayer({ endpoints: [endpoints[0]!, ...endpoints.slice(1)], prefix })

export const info = (name: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
  name,
  addresses: ["10.9.0.1"],
  capacity: { cpu: 2000, memory: 4 * 1024 ** 3, pods: 110 },
  labels: { zone: "a" },
  agentPid: process.pid,
  registeredAt: "2026-11-23T15:00:00.000Z",
  ...over
})

/** The lease a key is attached to ("0": none), read straight from etcd. */
export const leaseOf = (key: string) =>
  Effect.gen(function*() {
    const { kv } = yield* Etcd
    const res = yield* Effect.promise(() => kv.get(key).exec())
    return res.kvs[0]?.lease ?? "0"
  })

/** Revoke a lease from outside, as an operator with etcdctl would. */
export const revokeLease = (id: string) =>
  Effect.gen(function*() {
    const { kv } = yield* Etcd
    yield* Effect.promise(() => kv.leaseClient.leaseRevoke({ ID: id }))
  })

/** Poll `check` until it holds (real clock), failing after `ms`. */
export const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, ms = 10_000) =>
  Effect.gen(function*() {
    const until = Date.now() + ms
    while (!(yield* check)) {
      if (Date.now() > until) return yield* Effect.dieMessage(`timed out after ${ms} ms waiting for: ${what}`)
      yield* Effect.sleep("50 millis")
    }
  })
