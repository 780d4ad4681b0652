/**
 * Observed status of a pod, as the agent writes it and anyone reads it.
 */
import { Schema } from "effect"

export const Phase = Schema.Literal(
  "pending", // declared, not yet acted on
  "pulling", // fetching the image
  "starting", // bring-up in progress
  "running", // workload running
  "stopping", // being torn down (delete, replace, restart)
  "backing-off", // ended; waiting to restart
  "terminal", // ended; the restart policy says no more restarts until the spec changes
  "failed", // could not start (reason says why); retried with backoff per policy
  "lost", // cluster: its node stopped reporting and the pod may not be rescheduled
  // A stored record of the pod cannot be read (the reason names it). Never written by the agent:
  // readers report it from the store (Api.statusAll), next to what is known of the run.
  "invalid",
  // Nobody knows what runs. Cluster: the node that runs the pod is not ready (readers derive it from
  // node liveness, Api.statusReport, over what the node last wrote). On the pod's own machine: its
  // run record cannot be read (the agent writes it, the reason names the file and what to do); its
  // processes are left as they are.
  "unknown",
  // Deleted, being stopped (`graceDeadline`: when it is killed if still running). Readers show it
  // from the moment the delete is stored; the agent writes it with the deadline once it stops the pod.
  "terminating",
  // Cluster: fits no ready node (the reason says which rule failed); written by the scheduler.
  "unschedulable"
)
export type Phase = typeof Phase.Type

/** How the workload (or its bring-up) last ended. */
export const LastExit = Schema.Struct({
  code: Schema.optional(Schema.Number),
  signal: Schema.optional(Schema.Number),
  /** Bring-up failure: which step and why. */
  setupError: Schema.optional(Schema.Struct({ step: Schema.String, message: Schema.String })),
  /** The workload was OOM-killed (signal 9 with the cgroup's oom count risen). */
  oomKilled: Schema.optional(Schema.Boolean),
  at: Schema.String
})
export type LastExit = typeof LastExit.Type

/**
 * The image HEALTHCHECK's verdict, as docker shows it: `starting` (no verdict yet, or still in its
 * start period), `healthy`, `unhealthy` (Retries failures in a row). Shown, never acted on unless
 * the container's spec says `healthcheck: restart`.
 */
export const Health = Schema.Struct({
  status: Schema.Literal("starting", "healthy", "unhealthy"),
  /** Failures in a row (0 after a success). */
  failingStreak: Schema.Number,
  /** What the last check printed (its exit and the tail of its output). */
  output: Schema.optional(Schema.String),
  /** When the last check ended (ISO). */
  at: Schema.optional(Schema.String)
})
export type Health = typeof Health.Type

/** One container of a pod with several (their restarts are per container, as in Kubernetes). */
export const ContainerStatus = Schema.Struct({
  name: Schema.String,
  state: Schema.Literal("running", "backing-off", "terminal", "failed"),
  /** Restarts of this container within the pod's run. */
  restarts: Schema.Number,
  hostPid: Schema.optional(Schema.Number),
  startedAt: Schema.optional(Schema.String),
  nextRestartAt: Schema.optional(Schema.String),
  lastExit: Schema.optional(LastExit),
  reason: Schema.optional(Schema.String),
  /**
   * Containers with a readinessProbe (or startupProbe): whether it passes (absent or false: not
   * ready). Readers (Api.status, src/api/readiness.ts) fill it in for every container.
   */
  ready: Schema.optional(Schema.Boolean),
  /** Not ready: why (which probe failed last and what it printed, or the container's state). */
  readyReason: Schema.optional(Schema.String),
  /** The image's HEALTHCHECK, when the spec has no probe for the container (src/probes/healthcheck.ts). */
  health: Schema.optional(Health)
})
export type ContainerStatus = typeof ContainerStatus.Type

export const PodStatus = Schema.Struct({
  name: Schema.String,
  phase: Phase,
  /** Restarts since the spec revision was first started (reset by a spec change or Tank.restart). */
  restarts: Schema.Number,
  /** The desired revision this status is about. */
  specRevision: Schema.Number,
  /** The spec identity (canonical spec + restart generation) this status is about. */
  specKey: Schema.optional(Schema.String),
  hostPid: Schema.optional(Schema.Number),
  startedAt: Schema.optional(Schema.String),
  nextRestartAt: Schema.optional(Schema.String),
  lastExit: Schema.optional(LastExit),
  reason: Schema.optional(Schema.String),
  addresses: Schema.optional(Schema.Array(Schema.String)),
  /** hostUsers: false — the host ids the pod's ids 0..size-1 are. */
  userNamespace: Schema.optional(
    Schema.Struct({ hostUid: Schema.Number, hostGid: Schema.Number, size: Schema.Number })
  ),
  /** Pods with several containers: each container's state (a pod's `restarts` is their sum). */
  containers: Schema.optional(Schema.Array(ContainerStatus)),
  /**
   * The agent writes it for a pod of one container with a readinessProbe (several: per container);
   * readers (Api.status) derive it for every pod: running and every container ready.
   */
  ready: Schema.optional(Schema.Boolean),
  /** Not ready: why (the phase, or the containers and the probe that failed last with its output). */
  readyReason: Schema.optional(Schema.String),
  /** A pod of one container: its image HEALTHCHECK's verdict (several: per container). */
  health: Schema.optional(Health),
  /** Cluster mode: the node running (or that last ran) the pod. */
  node: Schema.optional(Schema.String),
  /** Phase "terminating": when the workload gets SIGKILL if it has not stopped by then (ISO). */
  graceDeadline: Schema.optional(Schema.String),
  /** Phase "unknown": the last heartbeat of the pod's node (ISO), when known. */
  lastHeartbeat: Schema.optional(Schema.String),
  /** Who wrote it: the agent's pid (so a reader can tell a stale status from a live one). */
  agentPid: Schema.optional(Schema.Number),
  updatedAt: Schema.String
})
export type PodStatus = typeof PodStatus.Type

export const decodeStatusJson = Schema.decodeUnknown(Schema.parseJson(PodStatus))
export const encodeStatusJson = Schema.encode(Schema.parseJson(PodStatus))

/** A pod event from the reconciler: what happened to a pod, when. Persisted so any process can follow. */
export const PodEventType = Schema.Literal(
  "applied",
  "deleted",
  "pulling",
  "starting",
  "running",
  "exited",
  "backing-off",
  "terminal",
  "failed",
  "stopping",
  "stopped",
  "restarting",
  "adopted",
  "scheduled", // cluster: bound to a node
  "lost", // cluster: its node stopped reporting
  "unknown", // cluster: its node is not ready (message: since when, last heartbeat); or its run record cannot be read (message: the file and why)
  "unschedulable", // cluster: it fits no ready node (message: which rule failed)
  "terminating", // deleted: being stopped (message: the grace period and its deadline)
  "removed", // deleted and gone: stopped, its volumes and logs purged, its status removed (watchers learn of it here)
  "invalid", // the pod's stored record cannot be read (the message says why); it is neither started nor stopped
  "teardown-failed", // stopping or removing a run left something behind (the message names each step and why)
  "unhealthy", // a container's liveness or startup probe failed (the message names the probe and its output); it is killed
  "ready", // a container's readiness probe passes (again)
  "unready", // a container's readiness probe failed failureThreshold times (the message names it and its output)
  "health" // a container's image HEALTHCHECK changed verdict: starting, healthy, unhealthy (the message says which and the output)
)
export type PodEventType = typeof PodEventType.Type

export const PodEvent = Schema.Struct({
  /** Assigned by the store, increasing. */
  id: Schema.Number,
  at: Schema.String,
  pod: Schema.String,
  /** Pods with several containers: the container the event is about (absent: the whole pod). */
  container: Schema.optional(Schema.String),
  type: PodEventType,
  message: Schema.optional(Schema.String),
  hostPid: Schema.optional(Schema.Number),
  restarts: Schema.optional(Schema.Number),
  lastExit: Schema.optional(LastExit),
  /** For backing-off: the delay before the next start. */
  delayMs: Schema.optional(Schema.Number),
  /**
   * The agent's events: the pod's status as written just before, so a watcher sees each state in
   * order however late it reads (`Tank.watch`); a status read later may already be a newer one.
   */
  status: Schema.optional(PodStatus)
})
export type PodEvent = typeof PodEvent.Type
export type NewPodEvent = Omit<PodEvent, "id">
