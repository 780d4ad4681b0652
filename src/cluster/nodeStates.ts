/**
 * The node list readers see, from the four things stored per node: its record, whether its lease
 * key is alive, when the scheduler leader saw it go not ready, and its agent's last heartbeat. Pure;
 * shared by the etcd and the in-memory Nodes layers so both answer the same.
 */
import { Effect } from "effect"
import { ClusterError, type NodeInfo, type NodeState } from "./Cluster.js"

export const nodeStates = (
  records: ReadonlyMap<string, NodeInfo>,
  alive: ReadonlySet<string>,
  notReadySince: ReadonlyMap<string, string>,
  heartbeats: ReadonlyMap<string, string> = new Map()
): ReadonlyArray<NodeState> =>
  [...records.values()]
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    .map((info): NodeState => {
      const ready = alive.has(info.name)
      const since = notReadySince.get(info.name)
      const beat = heartbeats.get(info.name)
      return {
        info,
        ready,
        // A mark left from an earlier outage means nothing once the node is back.
        ...(!ready && since !== undefined ? { notReadySince: since } : {}),
        ...(beat !== undefined ? { lastHeartbeat: beat } : {})
      }
    })

/**
 * Two lists that read the same (watchers emit only real changes). Heartbeats do not count: they
 * change every few seconds and decide nothing.
 */
export const sameNodes = (a: ReadonlyArray<NodeState>, b: ReadonlyArray<NodeState>): boolean =>
  JSON.stringify(a.map(withoutBeat)) === JSON.stringify(b.map(withoutBeat))

const withoutBeat = ({ lastHeartbeat: _, ...rest }: NodeState) => rest

/** `remove` of a node whose agent still holds it. */
export const stillReady = (name: string) =>
  Effect.fail(
    new ClusterError({
      op: `remove node ${name}`,
      message: `node "${name}" is ready (its agent is running): stop that agent before removing the node`
    })
  )
