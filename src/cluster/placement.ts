/**
 * Placement: which node each pod should be bound to, from the pods and the nodes. Pure; the loop in
 * scheduler.ts reads the store and the registry, calls `place`, and carries out its decisions.
 *
 * Rules, per pod:
 * - `node` (pinned): bound to that node whether or not it is ready (it waits there); past the grace
 *   period on a not-ready node it is reported lost (a pinned pod cannot move). Pinned to a node that
 *   is not registered (a typo, a node removed with `Nodes.remove`): unschedulable, unbound, naming
 *   the node (its agent, once it registers, starts it: pinned pods need no binding to start).
 * - Bound to a node that no longer suits its spec (pin or selector changed, node not registered: never,
 *   or removed with `Nodes.remove`):
 *   placed again as if new. This also holds when the node's labels change (an agent restarted with
 *   other `node.labels`), unlike Kubernetes' "IgnoredDuringExecution": the declared state wins.
 * - Bound to a node not ready for `lostAfterMs` or longer: `reschedule: true` → placed again on
 *   another ready node (never the dead one); otherwise reported lost, binding kept (if the node comes
 *   back, the pod runs there again).
 * - Unbound: the ready node matching `nodeSelector` with room for the pod's requests and the most
 *   free capacity after placing it (mean of the free fractions of cpu, memory and pod slots, like
 *   kube-scheduler's LeastAllocated); ties broken by node name. No such node: stays unbound with a
 *   reason ("0/3 nodes fit: 1 not ready, 2 insufficient memory").
 *
 * Pods are placed oldest first (create revision, then name), and each placement takes its room from
 * the node for the pods after it, so one pass over many pods spreads them.
 */
import type { Pod } from "../spec/Pod.js"
import type { StoredPod } from "../store/Store.js"
import type { NodeCapacity, NodeState } from "./Cluster.js"

/**
 * What a container without requests or limits counts for. Without `requests`, the limits are the
 * requests (as in Kubernetes); a container without them counts as kube-scheduler's non-zero defaults
 * (pkg/scheduler/util/pod_resources.go: 100 millicores, 200 MiB), so a node does not fill up with
 * unlimited pods "for free".
 */
export const DEFAULT_CPU_MILLIS = 100
export const DEFAULT_MEMORY_BYTES = 200 * 1024 * 1024

export type Request = NodeCapacity

/** `requests` (from a Kubernetes manifest's `resources.requests`) when given, else the limits. */
const containerRequest = (c: Pod["containers"][number]): { cpu: number; memory: number } => ({
  cpu: c.requests?.cpu ??
    (c.limits.cpu ? Math.ceil((c.limits.cpu.quota * 1000) / c.limits.cpu.period) : DEFAULT_CPU_MILLIS),
  memory: c.requests?.memory ?? c.limits.memory ?? DEFAULT_MEMORY_BYTES
})

/**
 * A pod's requests: the sum over its containers, or the largest init container if that is more (init
 * containers run one at a time, before the others), as Kubernetes computes effective requests.
 */
export const podRequest = (spec: Pod): Request => {
  const run = spec.containers.map(containerRequest).reduce((a, b) => ({
    cpu: a.cpu + b.cpu,
    memory: a.memory + b.memory
  }))
  const init = spec.initContainers.map(containerRequest)
  return {
    cpu: Math.max(run.cpu, ...init.map((r) => r.cpu)),
    memory: Math.max(run.memory, ...init.map((r) => r.memory)),
    pods: 1
  }
}

export type Decision =
  /** Bind `pod` (now at `revision`) to `node`; `from` is the node it leaves (null: was unbound). */
  | {
    readonly _tag: "Bind"
    readonly pod: string
    readonly revision: number
    readonly node: string
    readonly from: string | null
    readonly reason: string
  }
  /**
   * It fits nowhere now. `stays`: where it stays bound — its dead node (a reschedulable pod keeps it
   * until another node has room) or null; when that differs from `from`, the loop unbinds it (its
   * node no longer suits its spec).
   */
  | {
    readonly _tag: "Unschedulable"
    readonly pod: string
    readonly revision: number
    readonly from: string | null
    readonly stays: string | null
    readonly reason: string
  }
  /** Its node has been not ready past the grace period and the pod may not move. */
  | {
    readonly _tag: "Lost"
    readonly pod: string
    readonly node: string
    readonly since: string
    readonly reason: string
  }

export interface PlacementInput {
  readonly pods: ReadonlyArray<StoredPod>
  readonly nodes: ReadonlyArray<NodeState>
  /** Epoch millis. */
  readonly now: number
  readonly lostAfterMs: number
}

export interface Placement {
  readonly decisions: ReadonlyArray<Decision>
  /** When a not-ready node next crosses the grace period (epoch millis): run again then. */
  readonly wakeAt: number | undefined
}

const selectorMatches = (spec: Pod, labels: Readonly<Record<string, string>>): boolean =>
  Object.entries(spec.nodeSelector ?? {}).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v)

/** Does the node suit the pod's spec at all (ignoring readiness and room)? */
const suits = (spec: Pod, node: NodeState | undefined, name: string): boolean =>
  spec.node !== undefined ? spec.node === name : node !== undefined && selectorMatches(spec, node.info.labels)

const byAge = (a: StoredPod, b: StoredPod) =>
  a.createdRevision - b.createdRevision || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

const formatSelector = (spec: Pod) => Object.entries(spec.nodeSelector ?? {}).map(([k, v]) => `${k}=${v}`).join(",")

export const place = (input: PlacementInput): Placement => {
  const nodes = new Map(input.nodes.map((n) => [n.info.name, n]))
  const used = new Map<string, { cpu: number; memory: number; pods: number }>()
  const take = (node: string, r: Request) => {
    const u = used.get(node) ?? { cpu: 0, memory: 0, pods: 0 }
    used.set(node, { cpu: u.cpu + r.cpu, memory: u.memory + r.memory, pods: u.pods + r.pods })
  }
  /** Not ready since (epoch millis); a node without a mark went down just now as far as we know. */
  const downSince = (n: NodeState) => n.notReadySince !== undefined ? Date.parse(n.notReadySince) : input.now
  const pastGrace = (n: NodeState) => !n.ready && input.now - downSince(n) >= input.lostAfterMs

  const decisions: Array<Decision> = []
  const toPlace: Array<{ pod: StoredPod; exclude: string | undefined; why: string }> = []
  let wakeAt: number | undefined

  for (const pod of [...input.pods].sort(byAge)) {
    const spec = pod.spec
    const request = podRequest(spec)
    if (spec.node !== undefined) {
      if (!nodes.has(spec.node)) {
        decisions.push({
          _tag: "Unschedulable",
          pod: pod.name,
          revision: pod.revision,
          from: pod.node,
          stays: null,
          reason: `pinned to node ${spec.node}, which is not registered (${registered(input.nodes)})`
        })
        continue
      }
      // Pinned: bound there whatever its state; its room is taken there either way.
      take(spec.node, request)
      if (pod.node !== spec.node) {
        decisions.push({
          _tag: "Bind",
          pod: pod.name,
          revision: pod.revision,
          node: spec.node,
          from: pod.node,
          reason: `pinned to node ${spec.node}`
        })
      }
      const n = nodes.get(spec.node)
      if (n !== undefined && !n.ready) {
        if (pastGrace(n)) decisions.push(lost(pod.name, n))
        else wakeAt = earliest(wakeAt, downSince(n) + input.lostAfterMs)
      }
      continue
    }
    if (pod.node === null) {
      toPlace.push({ pod, exclude: undefined, why: "" })
      continue
    }
    const n = nodes.get(pod.node)
    if (!suits(spec, n, pod.node)) {
      toPlace.push({
        pod,
        exclude: undefined,
        why: n === undefined
          ? `node ${pod.node} is not registered`
          : `node ${pod.node} does not match nodeSelector ${formatSelector(spec)}`
      })
      continue
    }
    if (n!.ready) {
      take(pod.node, request)
      continue
    }
    if (!pastGrace(n!)) {
      take(pod.node, request)
      wakeAt = earliest(wakeAt, downSince(n!) + input.lostAfterMs)
      continue
    }
    if (spec.reschedule === true) {
      toPlace.push({ pod, exclude: pod.node, why: `node ${pod.node} not ready since ${sinceOf(n!, input.now)}` })
    } else {
      take(pod.node, request)
      decisions.push(lost(pod.name, n!))
    }
  }

  for (const { exclude, pod, why } of toPlace) {
    const request = podRequest(pod.spec)
    const chosen = choose(pod.spec, request, input.nodes, used, exclude)
    if (chosen._tag === "Node") {
      take(chosen.node, request)
      decisions.push({
        _tag: "Bind",
        pod: pod.name,
        revision: pod.revision,
        node: chosen.node,
        from: pod.node,
        reason: why === "" ? "placed" : `${why}: moved`
      })
    } else {
      // A pod that cannot move off its dead node keeps that binding (and its room there).
      const stays = exclude !== undefined ? pod.node : null
      if (stays !== null) take(stays, request)
      decisions.push({
        _tag: "Unschedulable",
        pod: pod.name,
        revision: pod.revision,
        from: pod.node,
        stays,
        reason: why === "" ? chosen.reason : `${why}; ${chosen.reason}`
      })
    }
  }
  return { decisions, wakeAt }
}

/** "registered: n1, n2, n3" (a typo in `node` is then plain to see), at most five names. */
const registered = (nodes: ReadonlyArray<NodeState>) => {
  if (nodes.length === 0) return "no node is registered"
  const names = nodes.map((n) => n.info.name)
  return `registered: ${names.slice(0, 5).join(", ")}${names.length > 5 ? `, … (${names.length})` : ""}`
}

const earliest = (a: number | undefined, b: number) => a === undefined ? b : Math.min(a, b)

const sinceOf = (n: NodeState, now: number) => n.notReadySince ?? new Date(now).toISOString()

const lost = (pod: string, n: NodeState): Decision => ({
  _tag: "Lost",
  pod,
  node: n.info.name,
  since: n.notReadySince ?? "",
  reason: `node ${n.info.name} not ready${n.notReadySince ? ` since ${n.notReadySince}` : ""}`
})

type Choice = { readonly _tag: "Node"; readonly node: string } | { readonly _tag: "None"; readonly reason: string }

/** The best node for a new placement, or why there is none. */
const choose = (
  spec: Pod,
  request: Request,
  nodes: ReadonlyArray<NodeState>,
  used: ReadonlyMap<string, Request>,
  exclude: string | undefined
): Choice => {
  const why = new Map<string, number>()
  const count = (reason: string) => why.set(reason, (why.get(reason) ?? 0) + 1)
  let best: { node: string; score: number } | undefined
  for (const n of nodes) {
    const name = n.info.name
    if (name === exclude) {
      count("is the node it leaves")
      continue
    }
    if (!n.ready) {
      count("not ready")
      continue
    }
    if (!selectorMatches(spec, n.info.labels)) {
      count(`not matching nodeSelector ${formatSelector(spec)}`)
      continue
    }
    const cap = n.info.capacity
    const u = used.get(name) ?? { cpu: 0, memory: 0, pods: 0 }
    const free = { cpu: cap.cpu - u.cpu, memory: cap.memory - u.memory, pods: cap.pods - u.pods }
    const short = (["cpu", "memory", "pods"] as const).filter((r) => free[r] < request[r])
    if (short.length > 0) {
      count(short.map((r) => `insufficient ${r}`).join(", "))
      continue
    }
    const frac = (r: "cpu" | "memory" | "pods") => cap[r] > 0 ? (free[r] - request[r]) / cap[r] : 0
    const score = (frac("cpu") + frac("memory") + frac("pods")) / 3
    // Nodes come sorted by name, so keeping the first of equal scores breaks ties by name.
    if (best === undefined || score > best.score || (score === best.score && name < best.node)) {
      best = { node: name, score }
    }
  }
  if (best !== undefined) return { _tag: "Node", node: best.node }
  if (nodes.length === 0) return { _tag: "None", reason: "no nodes registered" }
  const parts = [...why.entries()].sort(([a], [b]) => a < b ? -1 : 1).map(([r, k]) => `${k} ${r}`)
  return { _tag: "None", reason: `0/${nodes.length} nodes fit: ${parts.join("; ")}` }
}
