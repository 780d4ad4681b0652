/**
 * Phases readers derive instead of reading them: what a stored status says is only as true as its
 * writer is alive and the pod still declared. Pure; `Api.statusReport` and `Api.status` apply it to
 * what they read (the agent never writes these two).
 *
 * - `terminating`: a status whose pod is no longer declared is about a pod being torn down, from the
 *   moment the delete is stored (the agent, once it acts, writes the same phase with the deadline).
 * - `unknown` (cluster mode, with the node list): a status written by a node that is not ready (or
 *   no longer registered) says what that node last knew; nobody knows what runs now. The reason
 *   keeps what it last said, and `lastHeartbeat` when the node's agent was last heard from.
 *   Verdicts that stay true without the node (the scheduler's `lost`/`unschedulable`, a `terminal`
 *   run, an `invalid` record) are kept.
 */
import type { NodeState } from "../cluster/Cluster.js"
import type { PodStatus } from "../store/status.js"

/** Phases an agent writes about a run it looks after: only as true as that agent is alive. */
const AGENT_PHASES: ReadonlySet<PodStatus["phase"]> = new Set([
  "pending",
  "pulling",
  "starting",
  "running",
  "stopping",
  "backing-off",
  "failed",
  "terminating"
])

export interface DeriveInput {
  /** Names of the declared pods (readable or not). */
  readonly declared: ReadonlySet<string>
  /** Cluster mode: every registered node; undefined on a single machine. */
  readonly nodes: ReadonlyArray<NodeState> | undefined
}

const ago = (iso: string, now: number) => {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  return Number.isNaN(s) ? "" : ` (${s} s ago)`
}

/** One status as readers should see it (`now`: epoch millis, for "N s ago"). */
export const derive = (s: PodStatus, input: DeriveInput, now: number): PodStatus => {
  if (s.phase === "invalid") return s
  if (!input.declared.has(s.name)) {
    return s.phase === "terminating"
      ? s
      : { ...s, phase: "terminating", reason: `deleted; was ${s.phase}${s.reason ? ` (${s.reason})` : ""}` }
  }
  if (input.nodes === undefined || s.node === undefined || !AGENT_PHASES.has(s.phase)) return s
  const node = input.nodes.find((n) => n.info.name === s.node)
  if (node?.ready === true) return s
  const beat = node?.lastHeartbeat
  const why = node === undefined
    ? `node ${s.node} is not registered`
    : `node ${s.node} is not ready${node.notReadySince ? ` since ${node.notReadySince}` : ""}${
      beat ? `, last heartbeat ${beat}${ago(beat, now)}` : ""
    }`
  return {
    ...s,
    phase: "unknown",
    reason: `${why}; it last reported ${s.phase}${s.reason ? ` (${s.reason})` : ""}`,
    ...(beat !== undefined ? { lastHeartbeat: beat } : {})
  }
}
