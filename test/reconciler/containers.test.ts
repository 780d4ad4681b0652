/**
 * Pods with several containers: each container restarts alone under the pod's policy with its own
 * backoff (kubelet semantics), the others keep running; the pod ends only when no container will
 * restart. Fake runtime, memory store, TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import type { PodStatus } from "../../src/store/status.js"
import { eventsOf, eventually, phaseIs, podSpec, setup, startReconciler, statusOf } from "./harness.js"

const twoContainers = (restart: "always" | "on_failure" | "never") =>
  podSpec("duo", {
    restart,
    containers: [{ name: "web", image: "busybox" }, { name: "side", image: "busybox" }]
  })

const containerState = (s: PodStatus | undefined, name: string) => s?.containers?.find((c) => c.name === name)

describe("multi-container pods", () => {
  it.scoped("a crashing sidecar restarts alone with its own backoff; the main container keeps running", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(twoContainers("always"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "duo", "running"))
      const webPid = fake.containerPid("duo", "web")!
      const sidePid = fake.containerPid("duo", "side")!
      let s = (yield* statusOf(store, "duo"))!
      assert.deepStrictEqual(s.containers?.map((c) => [c.name, c.state, c.restarts, c.hostPid]), [
        ["web", "running", 0, webPid],
        ["side", "running", 0, sidePid]
      ])

      yield* fake.endContainer("duo", "side", { _tag: "Exited", code: 1 })
      yield* eventually(
        "side backing off",
        Effect.map(statusOf(store, "duo"), (x) => containerState(x, "side")?.state === "backing-off")
      )
      s = (yield* statusOf(store, "duo"))!
      assert.strictEqual(s.phase, "running", "the pod stays running while one container backs off")
      assert.strictEqual(s.restarts, 1)
      assert.strictEqual(containerState(s, "side")?.nextRestartAt, new Date(10_000).toISOString())
      assert.strictEqual(containerState(s, "side")?.lastExit?.code, 1)
      assert.strictEqual(containerState(s, "web")?.state, "running")

      yield* TestClock.adjust("10 seconds")
      yield* eventually(
        "side running again",
        Effect.map(statusOf(store, "duo"), (x) => containerState(x, "side")?.state === "running")
      )
      const newSide = fake.containerPid("duo", "side")!
      assert.notStrictEqual(newSide, sidePid)
      assert.strictEqual(fake.containerPid("duo", "web"), webPid, "the main container was not touched")
      assert.strictEqual(fake.stats.starts, 1, "the pod itself was not restarted")

      // Its own backoff: the second crash waits 20 s; the main container's first crash waits 10 s.
      yield* fake.endContainer("duo", "side", { _tag: "Signaled", signal: 9 })
      yield* fake.endContainer("duo", "web", { _tag: "Exited", code: 2 })
      yield* eventually(
        "both backing off",
        Effect.map(statusOf(store, "duo"), (x) => x?.containers?.every((c) => c.state === "backing-off") ?? false)
      )
      s = (yield* statusOf(store, "duo"))!
      assert.strictEqual(containerState(s, "side")?.nextRestartAt, new Date(30_000).toISOString())
      assert.strictEqual(containerState(s, "web")?.nextRestartAt, new Date(20_000).toISOString())
      assert.strictEqual(s.restarts, 3)
      yield* TestClock.adjust("10 seconds")
      yield* eventually(
        "web back",
        Effect.map(statusOf(store, "duo"), (x) => containerState(x, "web")?.state === "running")
      )
      assert.strictEqual(containerState(yield* statusOf(store, "duo"), "side")?.state, "backing-off")
      assert.strictEqual((yield* statusOf(store, "duo"))?.hostPid, fake.containerPid("duo", "web"))
      yield* TestClock.adjust("10 seconds")
      yield* eventually(
        "side back",
        Effect.map(statusOf(store, "duo"), (x) => containerState(x, "side")?.state === "running")
      )

      const events = (yield* eventsOf(store, "duo")).filter((e) => e.container === "side")
      assert.deepStrictEqual(events.map((e) => e.type), [
        "exited",
        "backing-off",
        "running",
        "exited",
        "backing-off",
        "running"
      ])
      assert.strictEqual(events[0]!.hostPid, sidePid)
      assert.include(events[0]!.message, "container side exited with code 1")
    }))

  it.scoped("on_failure: a container that exits 0 stays down, the pod runs on; all done → terminal", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(twoContainers("on_failure"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "duo", "running"))
      yield* fake.endContainer("duo", "side", { _tag: "Exited", code: 0 })
      yield* eventually(
        "side terminal",
        Effect.map(statusOf(store, "duo"), (x) => containerState(x, "side")?.state === "terminal")
      )
      assert.strictEqual((yield* statusOf(store, "duo"))?.phase, "running")
      yield* TestClock.adjust("1 hour")
      assert.isUndefined(fake.containerPid("duo", "side"))
      yield* fake.endContainer("duo", "web", { _tag: "Exited", code: 0 })
      yield* eventually("pod terminal", phaseIs(store, "duo", "terminal"))
      const s = (yield* statusOf(store, "duo"))!
      assert.deepStrictEqual(s.containers?.map((c) => c.state), ["terminal", "terminal"])
      assert.strictEqual(fake.stats.starts, 1)
    }))

  it.scoped("never: each container ends once; the pod is terminal when the last ends", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(twoContainers("never"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "duo", "running"))
      yield* fake.endContainer("duo", "web", { _tag: "Exited", code: 3 })
      yield* eventually(
        "web terminal",
        Effect.map(statusOf(store, "duo"), (x) => containerState(x, "web")?.state === "terminal")
      )
      assert.strictEqual((yield* statusOf(store, "duo"))?.phase, "running")
      yield* fake.endContainer("duo", "side", { _tag: "Exited", code: 0 })
      yield* eventually("pod terminal", phaseIs(store, "duo", "terminal"))
      assert.strictEqual((yield* statusOf(store, "duo"))?.lastExit?.code, 3, "the pod ended with its failure")
    }))

  it.scoped("agent restart: containers are re-adopted with their restart counts", () =>
    Effect.gen(function*() {
      const first = yield* setup()
      yield* first.store.put(twoContainers("always"))
      yield* first.rec.sync
      yield* eventually("running", phaseIs(first.store, "duo", "running"))
      yield* first.fake.endContainer("duo", "side", { _tag: "Exited", code: 1 })
      yield* TestClock.adjust("10 seconds")
      yield* eventually(
        "side back",
        Effect.map(
          statusOf(first.store, "duo"),
          (x) => containerState(x, "side")?.restarts === 1 && containerState(x, "side")?.state === "running"
        )
      )
      // Leave with live restore, then a second reconciler over the same store and runtime.
      yield* first.close
      const second = yield* startReconciler(first.store, first.fake)
      yield* second.rec.sync
      yield* eventually(
        "adopted",
        Effect.map(eventsOf(first.store, "duo"), (es) => es.some((e) => e.type === "adopted"))
      )
      const s = (yield* statusOf(first.store, "duo"))!
      assert.strictEqual(s.restarts, 1)
      assert.deepStrictEqual(s.containers?.map((c) => [c.name, c.restarts]), [["web", 0], ["side", 1]])
    }))
})
