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

/**
 * Forget a decommissioned node (its record and marks): refused while it is ready. Its pods are then
 * bound elsewhere by the scheduler, `reschedule` or not (a node that is gone cannot get them back).
 * False when no such node was registered.
 */
export const removeNode = (name: string): Effect.Effect<boolean, ClusterError, Nodes> =>
  Effect.flatMap(Nodes, (n) => n.remove(name))
