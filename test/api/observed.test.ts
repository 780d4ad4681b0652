/**
 * Phases readers derive (src/api/observed.ts): terminating for deleted pods, unknown for pods of a
 * node that is not ready; the scheduler's verdicts and ended runs are kept. Then the same through
 * Api.statusAll / Api.status with a Nodes registry in context (cluster mode) and without (single
 * machine).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope, TestClock } from "effect"
import * as Api from "../../src/api/Api.js"
import { derive } from "../../src/api/observed.js"
import { type NodeInfo, Nodes, type NodeState } from "../../src/cluster/Cluster.js"
import { layerMemory as nodesMemory } from "../../src/cluster/nodesMemory.js"
import { layerMemory as storeMemory } from "../../src/store/memory.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"

const NOW = Date.parse("2026-11-23T16:00:30.000Z")

const info = (name: string): NodeInfo => ({
  name,
  addresses: [],
  capacity: { cpu: 1000, memory: 1 << 30, pods: 10 },
  labels: {},
  agentPid: 1,
  registeredAt: "2026-11-23T15:00:00.000Z"
})

const status = (name: string, over: Partial<PodStatus> = {}): PodStatus => ({
  name,
  phase: "running",
  restarts: 0,
  specRevision: 1,
  hostPid: 100,
  updatedAt: "2026-11-23T16:00:00.000Z",
  ...over
})

const nodes: ReadonlyArray<NodeState> = [
  { info: info("up"), ready: true, lastHeartbeat: "2026-11-23T16:00:28.000Z" },
  {
    info: info("down"),
    ready: false,
    notReadySince: "2026-11-23T16:00:12.000Z",
    lastHeartbeat: "2026-11-23T16:00:00.000Z"
  }
]

describe("derive", () => {
  const declared = new Set(["a", "b", "c", "d", "e", "f"])

  it("a deleted pod's status reads terminating, keeping what it last said and its deadline", () => {
    assert.deepStrictEqual(derive(status("gone"), { declared, nodes: undefined }, NOW), {
      ...status("gone"),
      phase: "terminating",
      reason: "deleted; was running"
    })
    const written = status("gone", { phase: "terminating", graceDeadline: "2026-11-23T16:00:40.000Z" })
    assert.deepStrictEqual(derive(written, { declared, nodes }, NOW), written)
  })

  it("a status of a node that is not ready reads unknown, with the last heartbeat and what it last said", () => {
    const s = status("a", { node: "down", reason: "restarted 2 times" })
    assert.deepStrictEqual(derive(s, { declared, nodes }, NOW), {
      ...s,
      phase: "unknown",
      lastHeartbeat: "2026-11-23T16:00:00.000Z",
      reason: "node down is not ready since 2026-11-23T16:00:12.000Z, last heartbeat 2026-11-23T16:00:00.000Z " +
        "(30 s ago); it last reported running (restarted 2 times)"
    })
    // A node that is not registered any more: unknown too.
    assert.strictEqual(
      derive(status("b", { node: "removed" }), { declared, nodes }, NOW).reason,
      "node removed is not registered; it last reported running"
    )
  })

  it("keeps statuses of ready nodes, verdicts that hold without the node, and single-machine statuses", () => {
    const keep = [
      status("a", { node: "up" }),
      status("b", { node: "down", phase: "lost" }),
      status("c", { node: "down", phase: "unschedulable", reason: "0/1 nodes fit" }),
      status("d", { node: "down", phase: "terminal" }),
      status("e", { phase: "unschedulable" }),
      status("f", { node: "down", phase: "invalid" })
    ]
    for (const s of keep) assert.deepStrictEqual(derive(s, { declared, nodes }, NOW), s, s.name)
    assert.deepStrictEqual(derive(status("a", { node: "down" }), { declared, nodes: undefined }, NOW).phase, "running")
  })
})

describe("Api with a node registry in context (cluster mode)", () => {
  it.scoped("statusAll and status: a running pod of a node that goes down turns unknown at once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-11-23T16:00:00.000Z"))
      const ctx = yield* Layer.build(Layer.merge(storeMemory, nodesMemory))
      const store = yield* Effect.provide(Store, ctx)
      const registry = yield* Effect.provide(Nodes, ctx)
      const n2 = yield* Scope.make()
      yield* registry.register(info("n2"), 10).pipe(Scope.extend(n2))
      const applied = yield* Api.apply({ name: "web", containers: [{ name: "c", image: "busybox" }] }).pipe(
        Effect.provide(ctx)
      )
      yield* store.bind("web", "n2")
      yield* store.putStatus(status("web", { node: "n2", specRevision: applied.revision }))
      const phase = Effect.map(Api.status("web"), (s) => s.phase).pipe(Effect.provide(ctx))
      assert.strictEqual(yield* phase, "running")
      yield* TestClock.adjust("5 seconds")
      yield* Scope.close(n2, Exit.void)
      assert.strictEqual(yield* phase, "unknown")
      const all = yield* Api.statusAll.pipe(Effect.provide(ctx))
      assert.strictEqual(all[0]!.phase, "unknown")
      assert.strictEqual(all[0]!.lastHeartbeat, "2026-11-23T16:00:05.000Z")
      // Without a registry (a plain Store layer) the stored status is shown as written.
      assert.strictEqual((yield* Api.status("web").pipe(Effect.provideService(Store, store))).phase, "running")
    }))
})
