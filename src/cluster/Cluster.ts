/**
 * Cluster mode (desired state in etcd, several machines): the node registry, leader election for the
 * scheduler, and what the rest of Tank needs to know about nodes. Single-machine Tank never builds
 * these layers.
 *
 * Keys (under the etcd prefix): `nodes/<name>` the node record (kept after its lease ends, so a dead
 * node shows as not ready); `alive/<name>` attached to the node's lease (present = ready);
 * `notready/<name>` when the scheduler leader first saw the node not ready (written only while the
 * alive key is absent, deleted when the node registers again); `heartbeat/<name>` the time of the
 * agent's last heartbeat (no lease: it outlives the node); `election/scheduler/<lease hex>` one
 * key per candidate of the election for the agent that runs the scheduler (lowest create revision
 * leads).
 *
 * Layers: nodesEtcd.ts `layerEtcd`, nodesMemory.ts `layerMemory`; electionEtcd.ts `layerEtcdWith`.
 */
import type { Effect, Option, Scope, Stream } from "effect"
import { Context, Schema } from "effect"

export const NodeCapacity = Schema.Struct({
  /** Millicores. */
  cpu: Schema.Number,
  /** Bytes. */
  memory: Schema.Number,
  pods: Schema.Number
})
export type NodeCapacity = typeof NodeCapacity.Type

/** What an agent registers about its machine. */
export const NodeInfo = Schema.Struct({
  name: Schema.String,
  /** Host addresses (for display and for routing exec/logs later). */
  addresses: Schema.Array(Schema.String),
  capacity: NodeCapacity,
  labels: Schema.Record({ key: Schema.String, value: Schema.String }),
  /** The agent's pid on its machine and when it registered (ISO time). */
  agentPid: Schema.Number,
  registeredAt: Schema.String
})
export type NodeInfo = typeof NodeInfo.Type

/** A node as readers see it: its record plus whether its lease is alive. */
export interface NodeState {
  readonly info: NodeInfo
  readonly ready: boolean
  /** When the node was last seen not ready (ISO; absent while ready). Set by the scheduler leader. */
  readonly notReadySince?: string
  /** When its agent last said it is alive (ISO), when known: registration, then every TTL/3. */
  readonly lastHeartbeat?: string
}

export class ClusterError extends Schema.TaggedError<ClusterError>()("ClusterError", {
  op: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** A pod runs on another node: exec/attach/logs/stats are refused (see README "Cluster mode"). */
export class PodOnOtherNode extends Schema.TaggedError<PodOnOtherNode>()("PodOnOtherNode", {
  pod: Schema.String,
  node: Schema.String,
  self: Schema.String
}) {
  override get message() {
    return `pod "${this.pod}" runs on node "${this.node}", not on this node ("${this.self}"): run this command there`
  }
}

export interface NodesService {
  /**
   * Register this node and keep its lease alive for as long as the scope lives (revoked on close,
   * so a cleanly stopped agent shows not ready at once). Re-registers if the lease is lost.
   */
  readonly register: (info: NodeInfo, ttlSeconds: number) => Effect.Effect<void, ClusterError, Scope.Scope>
  readonly list: Effect.Effect<ReadonlyArray<NodeState>, ClusterError>
  /** The node list now and after every change (registrations, lease expiry). */
  readonly watch: Stream.Stream<ReadonlyArray<NodeState>, ClusterError>
  /** Record when a node went not ready (leader only); null clears it. */
  readonly markNotReady: (name: string, since: string | null) => Effect.Effect<void, ClusterError>
  /**
   * Forget a node that is gone for good (decommissioned): its record and mark are deleted, and the
   * scheduler places its pods again elsewhere (reschedulable or not: the node will not come back).
   * Refused while the node is ready (stop its agent first). False if no such node.
   */
  readonly remove: (name: string) => Effect.Effect<boolean, ClusterError>
}

export class Nodes extends Context.Tag("tank/Nodes")<Nodes, NodesService>() {}

export interface ElectionService {
  /**
   * Campaign for leadership and run `whileLeader` once elected; it is interrupted if leadership is
   * lost, and the campaign starts again. Runs until interrupted; resigns on interruption.
   */
  readonly lead: <E, R>(
    whileLeader: Effect.Effect<void, E, R>
  ) => Effect.Effect<never, ClusterError, Exclude<R, Scope.Scope>>
  /** Who leads now: the leader's candidate value (its node name in an agent), none while nobody does. */
  readonly leader: Effect.Effect<Option.Option<string>, ClusterError>
}

export class Election extends Context.Tag("tank/Election")<Election, ElectionService>() {}
