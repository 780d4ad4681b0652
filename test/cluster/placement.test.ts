/**
 * Pure placement: pins, selectors, capacity, grace period, rebinding, determinism.
 */
import { assert, describe, it } from "@effect/vitest"
import type { NodeState } from "../../src/cluster/Cluster.js"
import {
  type Decision,
  DEFAULT_CPU_MILLIS,
  DEFAULT_MEMORY_BYTES,
  place,
  type PlacementInput,
  podRequest
} from "../../src/cluster/placement.js"
import { decodePodEither } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"
import type { StoredPod } from "../../src/store/Store.js"

const MiB = 1024 * 1024
const GiB = 1024 * MiB

const spec = (name: string, over: Record<string, unknown> = {}, container: Record<string, unknown> = {}): Pod => {
  const r = decodePodEither({ name, containers: [{ name: "app", image: "busybox", ...container }], ...over })
  if (r._tag === "Left") throw new Error(r.left.message)
  return r.right
}

let rev = 0
const pod = (
  name: string,
  opts: { node?: string | null; spec?: Record<string, unknown>; limits?: Record<string, unknown>; created?: number } =
    {}
): StoredPod => {
  const revision = ++rev + 100
  return {
    name,
    spec: spec(name, opts.spec, opts.limits ? { limits: opts.limits } : {}),
    revision,
    createdRevision: opts.created ?? revision,
    updatedAt: 0,
    restartGeneration: 0,
    node: opts.node ?? null
  }
}

const node = (
  name: string,
  opts: {
    ready?: boolean
    labels?: Record<string, string>
    cpu?: number
    memory?: number
    pods?: number
    since?: string
  } = {}
): NodeState => ({
  info: {
    name,
    addresses: [],
    capacity: { cpu: opts.cpu ?? 4000, memory: opts.memory ?? 8 * GiB, pods: opts.pods ?? 110 },
    labels: opts.labels ?? {},
    agentPid: 1,
    registeredAt: "2026-11-23T00:00:00.000Z"
  },
  ready: opts.ready ?? true,
  ...(opts.since !== undefined ? { notReadySince: opts.since } : {})
})

const NOW = Date.parse("2026-11-23T16:00:00.000Z")
const LOST_AFTER = 30_000
const ago = (ms: number) => new Date(NOW - ms).toISOString()

const run = (pods: ReadonlyArray<StoredPod>, nodes: ReadonlyArray<NodeState>, over: Partial<PlacementInput> = {}) =>
  place({ pods, nodes, now: NOW, lostAfterMs: LOST_AFTER, ...over })

/** pod → node of every Bind decision. */
const binds = (ds: ReadonlyArray<Decision>) =>
  Object.fromEntries(ds.flatMap((d) => d._tag === "Bind" ? [[d.pod, d.node]] : []))
const only = <T extends Decision["_tag"]>(ds: ReadonlyArray<Decision>, tag: T) =>
  ds.filter((d): d is Extract<Decision, { _tag: T }> => d._tag === tag)

describe("podRequest", () => {
  it("limits are the requests: cpu quota/period in millicores (rounded up), memory in bytes, one pod slot", () => {
    assert.deepStrictEqual(
      podRequest(spec("a", {}, { limits: { cpu: { quota: 50_000, period: 100_000 }, memory: 256 * MiB } })),
      { cpu: 500, memory: 256 * MiB, pods: 1 }
    )
    assert.strictEqual(podRequest(spec("a", {}, { limits: { cpu: { quota: 1500, period: 1_000_000 } } })).cpu, 2)
    assert.strictEqual(podRequest(spec("a", {}, { limits: { cpu: { quota: 250_000 } } })).cpu, 2500)
  })

  it("containers without limits count as 100 millicores and 200 MiB", () => {
    assert.deepStrictEqual(podRequest(spec("a")), { cpu: DEFAULT_CPU_MILLIS, memory: DEFAULT_MEMORY_BYTES, pods: 1 })
    assert.strictEqual(DEFAULT_CPU_MILLIS, 100)
    assert.strictEqual(DEFAULT_MEMORY_BYTES, 200 * MiB)
  })

  it("sums the containers; an init container counts only if it asks more than all of them together", () => {
    const two = spec("a", {
      containers: [
        { name: "a", image: "x", limits: { memory: 100 * MiB } },
        { name: "b", image: "x", limits: { memory: 50 * MiB, cpu: { quota: 20_000 } } }
      ],
      initContainers: [{ name: "i", image: "x", limits: { memory: 120 * MiB, cpu: { quota: 400_000 } } }]
    })
    assert.deepStrictEqual(podRequest(two), { cpu: 4000, memory: 150 * MiB, pods: 1 })
  })
})

describe("place: new pods", () => {
  it("go to the ready node with the most free capacity; ties go to the first name", () => {
    assert.deepStrictEqual(binds(run([pod("p")], [node("b"), node("a"), node("c")]).decisions), { p: "a" })
    assert.deepStrictEqual(binds(run([pod("p")], [node("a"), node("b", { memory: 16 * GiB })]).decisions), { p: "b" })
  })

  it("one pass spreads many pods evenly over equal nodes", () => {
    const pods = Array.from({ length: 30 }, (_, i) => pod(`p${i}`))
    const placed = binds(run(pods, [node("n1"), node("n2"), node("n3")]).decisions)
    const perNode = Object.values(placed).reduce<Record<string, number>>(
      (acc, n) => ({ ...acc, [n]: (acc[n] ?? 0) + 1 }),
      {}
    )
    assert.deepStrictEqual(perNode, { n1: 10, n2: 10, n3: 10 })
  })

  it("pods already bound take their room: the emptier node gets the new pod", () => {
    const bound = [pod("old1", { node: "a" }), pod("old2", { node: "a" })]
    assert.deepStrictEqual(binds(run([...bound, pod("new")], [node("a"), node("b")]).decisions), { new: "b" })
  })

  it("skip nodes that are not ready or lack room, and say why when none is left", () => {
    const big = { memory: 6 * GiB }
    const nodes = [node("a", { ready: false }), node("b", { memory: 4 * GiB }), node("c", { pods: 1 })]
    const r = run([pod("full", { node: "c" }), pod("p", { limits: big })], nodes)
    const u = only(r.decisions, "Unschedulable")
    assert.strictEqual(u.length, 1)
    assert.strictEqual(u[0]!.pod, "p")
    assert.isNull(u[0]!.stays)
    assert.strictEqual(u[0]!.reason, "0/3 nodes fit: 1 insufficient memory; 1 insufficient pods; 1 not ready")
    assert.deepStrictEqual(binds(r.decisions), {})
  })

  it("cpu counts too", () => {
    const r = run([pod("p", { limits: { cpu: { quota: 300_000 } } })], [
      node("a", { cpu: 2000 }),
      node("b", { cpu: 4000 })
    ])
    assert.deepStrictEqual(binds(r.decisions), { p: "b" })
    const none = run([pod("p", { limits: { cpu: { quota: 500_000 } } })], [node("a", { cpu: 2000 })])
    assert.match(only(none.decisions, "Unschedulable")[0]!.reason, /1 insufficient cpu/)
  })

  it("no nodes at all: unschedulable, saying so", () => {
    assert.strictEqual(only(run([pod("p")], []).decisions, "Unschedulable")[0]!.reason, "no nodes registered")
  })

  it("older pods are placed first when room is short", () => {
    const young = pod("aaa", { created: 50 })
    const old = pod("zzz", { created: 10 })
    assert.deepStrictEqual(binds(run([young, old], [node("a", { pods: 1 })]).decisions), { zzz: "a" })
  })

  it("is deterministic: the same answer whatever order pods and nodes come in", () => {
    const pods = Array.from({ length: 12 }, (_, i) => pod(`p${i}`, { limits: { memory: (i % 4 + 1) * 512 * MiB } }))
    const nodes = [node("n1"), node("n2", { memory: 6 * GiB }), node("n3", { cpu: 1000 })]
    const a = run(pods, nodes).decisions
    const b = run([...pods].reverse(), [...nodes].reverse()).decisions
    assert.deepStrictEqual(binds(b), binds(a))
  })
})

describe("place: nodeSelector", () => {
  const nodes = [node("a", { labels: { zone: "x" } }), node("b", { labels: { zone: "y", disk: "ssd" } }), node("c")]

  it("only nodes carrying every selected label", () => {
    assert.deepStrictEqual(binds(run([pod("p", { spec: { nodeSelector: { zone: "y" } } })], nodes).decisions), {
      p: "b"
    })
    assert.deepStrictEqual(
      binds(run([pod("p", { spec: { nodeSelector: { zone: "y", disk: "ssd" } } })], nodes).decisions),
      { p: "b" }
    )
  })

  it("no match: unschedulable naming the selector", () => {
    const r = run([pod("p", { spec: { nodeSelector: { zone: "y", disk: "hdd" } } })], nodes)
    assert.strictEqual(
      only(r.decisions, "Unschedulable")[0]!.reason,
      "0/3 nodes fit: 3 not matching nodeSelector zone=y,disk=hdd"
    )
  })

  it("a bound pod whose selector no longer matches its node moves; with nowhere to go it is unbound", () => {
    const moved = run([pod("p", { node: "a", spec: { nodeSelector: { zone: "y" } } })], nodes).decisions
    assert.deepStrictEqual(moved, [{
      _tag: "Bind",
      pod: "p",
      revision: moved[0]!._tag === "Bind" ? moved[0]!.revision : -1,
      node: "b",
      from: "a",
      reason: "node a does not match nodeSelector zone=y: moved"
    }])
    const stuck = only(
      run([pod("p", { node: "a", spec: { nodeSelector: { zone: "z" } } })], nodes).decisions,
      "Unschedulable"
    )
    assert.strictEqual(stuck[0]!.from, "a")
    assert.isNull(stuck[0]!.stays)
  })

  it("a bound pod whose node never registered is placed again", () => {
    assert.deepStrictEqual(binds(run([pod("p", { node: "ghost" })], [node("a")]).decisions), { p: "a" })
  })
})

describe("place: pinned pods", () => {
  it("are bound to their node even when it is not ready, and nothing is done once there", () => {
    const r = run([pod("p", { spec: { node: "b" } })], [node("a"), node("b", { ready: false, since: ago(1000) })])
    assert.deepStrictEqual(binds(r.decisions), { p: "b" })
    assert.deepStrictEqual(run([pod("p", { node: "b", spec: { node: "b" } })], [node("a"), node("b")]).decisions, [])
  })

  it("pinned to a node that is not registered: unschedulable naming it, unbound, taking no room", () => {
    const pods = [
      pod("q", { spec: { node: "n9" } }),
      // Bound to it before the node was removed: unbound now.
      pod("was", { node: "gone", spec: { node: "gone" } }),
      pod("other", { limits: { memory: 8 * GiB } })
    ]
    const r = run(pods, [node("a", { memory: 8 * GiB })])
    assert.deepStrictEqual(only(r.decisions, "Unschedulable"), [
      {
        _tag: "Unschedulable",
        pod: "q",
        revision: pods[0]!.revision,
        from: null,
        stays: null,
        reason: "pinned to node n9, which is not registered (registered: a)"
      },
      {
        _tag: "Unschedulable",
        pod: "was",
        revision: pods[1]!.revision,
        from: "gone",
        stays: null,
        reason: "pinned to node gone, which is not registered (registered: a)"
      }
    ])
    assert.deepStrictEqual(binds(r.decisions), { other: "a" })
    assert.match(
      (only(run([pod("z", { spec: { node: "x" } })], []).decisions, "Unschedulable")[0]!).reason,
      /which is not registered \(no node is registered\)$/
    )
  })

  it("move when the pin changes, and take room on their node even past its capacity", () => {
    const r = run([pod("p", { node: "a", spec: { node: "b" } })], [node("a"), node("b")])
    assert.deepStrictEqual(only(r.decisions, "Bind").map((d) => [d.from, d.node]), [["a", "b"]])
    // b is full of pinned pods: a new pod goes to a.
    const pinned = [pod("x", { spec: { node: "b" } }), pod("y", { spec: { node: "b" } })]
    assert.deepStrictEqual(binds(run([...pinned, pod("new")], [node("a"), node("b", { pods: 1 })]).decisions), {
      x: "b",
      y: "b",
      new: "a"
    })
  })

  it("are lost when their node stays not ready past the grace period", () => {
    const nodes = [node("a"), node("b", { ready: false, since: ago(LOST_AFTER) })]
    assert.deepStrictEqual(only(run([pod("p", { node: "b", spec: { node: "b" } })], nodes).decisions, "Lost"), [{
      _tag: "Lost",
      pod: "p",
      node: "b",
      since: ago(LOST_AFTER),
      reason: `node b not ready since ${ago(LOST_AFTER)}`
    }])
  })
})

describe("place: nodes that stop being ready", () => {
  const down = (since: number) => node("dead", { ready: false, since: ago(since) })

  it("within the grace period nothing moves, and the answer says when to look again", () => {
    const r = run([pod("p", { node: "dead", spec: { reschedule: true } }), pod("q", { node: "dead" })], [
      node("a"),
      down(10_000)
    ])
    assert.deepStrictEqual(r.decisions, [])
    assert.strictEqual(r.wakeAt, NOW + 20_000)
    // A node with no mark yet went down now as far as placement knows.
    const fresh = run([pod("p", { node: "x" })], [node("a"), node("x", { ready: false })])
    assert.strictEqual(fresh.wakeAt, NOW + LOST_AFTER)
    assert.isUndefined(run([pod("p", { node: "a" })], [node("a")]).wakeAt)
  })

  it("within the grace period the dead node's pods still hold their room there", () => {
    const r = run([pod("p", { node: "dead" }), pod("new")], [node("dead", { ready: false, since: ago(1000), pods: 1 })])
    assert.match(only(r.decisions, "Unschedulable")[0]!.reason, /1 not ready/)
  })

  it("past it, reschedule: true pods move to a ready node (never the dead one); the others are lost", () => {
    const r = run([
      pod("mover", { node: "dead", spec: { reschedule: true } }),
      pod("stayer", { node: "dead" })
    ], [down(LOST_AFTER + 1), node("b"), node("a", { ready: false })])
    assert.deepStrictEqual(only(r.decisions, "Bind").map((d) => [d.pod, d.from, d.node, d.reason]), [[
      "mover",
      "dead",
      "b",
      `node dead not ready since ${ago(LOST_AFTER + 1)}: moved`
    ]])
    assert.deepStrictEqual(only(r.decisions, "Lost").map((d) => [d.pod, d.node]), [["stayer", "dead"]])
  })

  it("a reschedulable pod with nowhere to go stays bound to its dead node, with the reason", () => {
    const r = run([pod("p", { node: "dead", spec: { reschedule: true, nodeSelector: { zone: "x" } } })], [
      node("dead", { ready: false, since: ago(60_000), labels: { zone: "x" } }),
      node("b")
    ])
    const u = only(r.decisions, "Unschedulable")
    assert.strictEqual(u[0]!.stays, "dead")
    assert.strictEqual(u[0]!.from, "dead")
    assert.strictEqual(
      u[0]!.reason,
      `node dead not ready since ${
        ago(60_000)
      }; 0/2 nodes fit: 1 is the node it leaves; 1 not matching nodeSelector zone=x`
    )
  })

  it("a grace period of 0 acts at once on a node seen not ready", () => {
    const r = run([pod("p", { node: "x", spec: { reschedule: true } })], [node("x", { ready: false }), node("y")], {
      lostAfterMs: 0
    })
    assert.deepStrictEqual(binds(r.decisions), { p: "y" })
  })

  it("moved pods spread by free capacity like new ones", () => {
    const pods = Array.from({ length: 4 }, (_, i) => pod(`m${i}`, { node: "dead", spec: { reschedule: true } }))
    const placed = binds(run(pods, [down(LOST_AFTER), node("a"), node("b")]).decisions)
    assert.deepStrictEqual(Object.values(placed).sort(), ["a", "a", "b", "b"])
  })
})
