/**
 * Cluster mode: the node list as users see it (`Tank.nodes()`, `tank nodes`): each node's record,
 * whether it is ready, and how many pods are bound to it. Needs the Nodes registry and the Store.
 */
import { Effect } from "effect"
import { type ClusterError, Nodes, type NodeState } from "../cluster/Cluster.js"
import { Store, type StoredPod, type StoreError } from "../store/Store.js"

export interface NodeRow {
  readonly name: string
  readonly ready: boolean
  /** When the scheduler first saw the node not ready (ISO). */
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

/** Every node that ever registered, ready or not, with its bound pod count. */
export const nodes: Effect.Effect<Array<NodeRow>, ClusterError | StoreError, Nodes | Store> = Effect.all(
  [Effect.flatMap(Nodes, (n) => n.list), Effect.flatMap(Store, (s) => s.list)],
  { concurrency: 2 }
).pipe(Effect.map(([states, { pods }]) => nodeRows(states, pods)))

/** What `removeNode` did. */
export interface NodeRemoval {
  /** False: no such node was registered (nothing changed). */
  readonly removed: boolean
  /** Pods bound to it that the scheduler now places on other nodes. */
  readonly moving: ReadonlyArray<string>
  /** Pods pinned to it (`node:`): unschedulable until a node of that name registers again. */
  readonly pinned: ReadonlyArray<string>
}

/** Which of `pods` a removal of `name` affects, and how (pure). */
export const removalOf = (name: string, removed: boolean, pods: ReadonlyArray<StoredPod>): NodeRemoval => {
  const pinned = pods.filter((p) => p.spec.node === name).map((p) => p.name)
  const moving = pods.filter((p) => p.node === name && p.spec.node !== name).map((p) => p.name)
  return removed ? { removed, moving, pinned } : { removed, moving: [], pinned: [] }
}

/**
 * Forget a decommissioned node (its record and marks): refused while it is ready. Its pods are then
 * bound elsewhere by the scheduler, `reschedule` or not (a node that is gone cannot get them back);
 * pods pinned to it become unschedulable. Says which pods are affected (read just before removing).
 */
export const removeNode = (name: string): Effect.Effect<NodeRemoval, ClusterError | StoreError, Nodes | Store> =>
  Effect.gen(function*() {
    const { pods } = yield* Effect.flatMap(Store, (s) => s.list)
    const removed = yield* Effect.flatMap(Nodes, (n) => n.remove(name))
    return removalOf(name, removed, pods)
  })
