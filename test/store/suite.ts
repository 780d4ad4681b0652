/**
 * The shared Store suite: every Store layer (memory, SQLite, etcd) must pass it. Revisions are checked
 * relative to the store's revision at the start of a test (etcd's counter is shared by every test
 * that uses the same server).
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, type Layer, Option, Stream } from "effect"
import { decodePodEither } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"
import { Store } from "../../src/store/Store.js"

export const pod = (name: string, restart: "always" | "never" = "always"): Pod => {
  const r = decodePodEither({ name, restart, containers: [{ name: "app", image: "busybox" }] })
  if (r._tag === "Left") throw r.left
  return r.right
}

export interface SuiteOptions {
  /** Run every test with the real clock (layers that sleep or retry in the background). */
  readonly live?: boolean
}

export const storeSuite = (label: string, layer: Layer.Layer<Store>, options: SuiteOptions = {}) => {
  const scoped = options.live ? it.scopedLive : it.scoped
  const live = it.scopedLive
  describe(`Store (${label})`, () => {
    scoped("put then get round-trips the spec; get of a missing pod is None", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const p = pod("web")
        const r0 = yield* store.revision
        const stored = yield* store.put(p)
        assert.strictEqual(stored.revision, r0 + 1)
        const got = yield* store.get("web")
        assert.deepStrictEqual(Option.getOrThrow(got).spec, p)
        assert.isTrue(Option.isNone(yield* store.get("nope")))
      }).pipe(Effect.provide(layer)))

    scoped("put overwrites and bumps the store-wide revision; createdRevision is kept", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const r0 = yield* store.revision
        const a = yield* store.put(pod("web"))
        yield* store.put(pod("db"))
        const b = yield* store.put(pod("web", "never"))
        assert.strictEqual(b.revision, r0 + 3)
        assert.strictEqual(b.createdRevision, a.revision)
        assert.strictEqual(Option.getOrThrow(yield* store.get("web")).spec.restart, "never")
        assert.strictEqual(yield* store.revision, r0 + 3)
      }).pipe(Effect.provide(layer)))

    scoped("create is create-if-absent: the second fails and leaves the first untouched", () =>
      Effect.gen(function*() {
        const store = yield* Store
        yield* store.create(pod("web", "never"))
        const err = yield* Effect.flip(store.create(pod("web", "always")))
        assert.strictEqual(err._tag, "AlreadyExists")
        assert.strictEqual(Option.getOrThrow(yield* store.get("web")).spec.restart, "never")
      }).pipe(Effect.provide(layer)))

    scoped("conditional writes fail on a stale revision", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const a = yield* store.put(pod("web"))
        yield* store.put(pod("web", "never"), { expectRevision: a.revision })
        const err = yield* Effect.flip(store.put(pod("web", "always"), { expectRevision: a.revision }))
        assert.strictEqual(err._tag, "RevisionConflict")
        const err2 = yield* Effect.flip(store.delete("web", { expectRevision: a.revision }))
        assert.strictEqual(err2._tag, "RevisionConflict")
        const created = yield* store.put(pod("new"), { expectRevision: 0 })
        assert.strictEqual(created.name, "new")
      }).pipe(Effect.provide(layer)))

    scoped("delete: missing is ok; list is sorted and reflects writes", () =>
      Effect.gen(function*() {
        const store = yield* Store
        assert.deepStrictEqual(yield* store.list, { pods: [], invalid: [] })
        yield* store.put(pod("web"))
        yield* store.put(pod("db"))
        assert.deepStrictEqual((yield* store.list).pods.map((p) => p.name), ["db", "web"])
        assert.isTrue(yield* store.delete("db"))
        assert.isFalse(yield* store.delete("db"))
        assert.deepStrictEqual((yield* store.list).pods.map((p) => p.name), ["web"])
      }).pipe(Effect.provide(layer)))

    scoped("requestRestart bumps the generation and the revision, keeps the spec", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const a = yield* store.put(pod("web"))
        const r = Option.getOrThrow(yield* store.requestRestart("web"))
        assert.strictEqual(r.restartGeneration, 1)
        assert.isTrue(r.revision > a.revision)
        assert.deepStrictEqual(r.spec, a.spec)
        assert.strictEqual(Option.getOrThrow(yield* store.get("web")).restartGeneration, 1)
        // A later apply keeps the generation: it is not part of the spec.
        const b = yield* store.put(pod("web", "never"))
        assert.strictEqual(b.restartGeneration, 1)
        assert.isTrue(Option.isNone(yield* store.requestRestart("nope")))
      }).pipe(Effect.provide(layer)))

    scoped(
      "bind sets the node with a new revision and keeps the spec; create starts unbound",
      () =>
        Effect.gen(function*() {
          const store = yield* Store
          const a = yield* store.create(pod("web"))
          assert.strictEqual(a.node, null)
          const b = Option.getOrThrow(yield* store.bind("web", "n1"))
          assert.strictEqual(b.node, "n1")
          assert.isTrue(b.revision > a.revision)
          assert.strictEqual(b.createdRevision, a.createdRevision)
          assert.deepStrictEqual(b.spec, a.spec)
          assert.strictEqual(yield* store.revision, b.revision)
          assert.strictEqual(Option.getOrThrow(yield* store.get("web")).node, "n1")
          const c = Option.getOrThrow(yield* store.bind("web", null))
          assert.strictEqual(c.node, null)
          assert.isTrue(Option.isNone(yield* store.bind("nope", "n1")))
          assert.strictEqual(yield* store.revision, c.revision)
        }).pipe(Effect.provide(layer))
    )

    scoped("put and requestRestart keep the binding", () =>
      Effect.gen(function*() {
        const store = yield* Store
        yield* store.put(pod("web"))
        yield* store.bind("web", "n2")
        const b = yield* store.put(pod("web", "never"))
        assert.strictEqual(b.node, "n2")
        assert.strictEqual(Option.getOrThrow(yield* store.get("web")).spec.restart, "never")
        const r = Option.getOrThrow(yield* store.requestRestart("web"))
        assert.strictEqual(r.node, "n2")
        assert.strictEqual(Option.getOrThrow(yield* store.get("web")).node, "n2")
        assert.deepStrictEqual((yield* store.list).pods.map((p) => p.node), ["n2"])
      }).pipe(Effect.provide(layer)))

    scoped(
      "bind with expectRevision: a stale revision is a conflict and changes nothing",
      () =>
        Effect.gen(function*() {
          const store = yield* Store
          const a = yield* store.put(pod("web"))
          const b = Option.getOrThrow(yield* store.bind("web", "n1", { expectRevision: a.revision }))
          const err = yield* Effect.flip(store.bind("web", "n2", { expectRevision: a.revision }))
          assert.strictEqual(err._tag, "RevisionConflict")
          if (err._tag === "RevisionConflict") assert.strictEqual(err.actual, b.revision)
          const now = Option.getOrThrow(yield* store.get("web"))
          assert.strictEqual(now.node, "n1")
          assert.strictEqual(now.revision, b.revision)
          const gone = yield* Effect.flip(store.bind("nope", "n1", { expectRevision: 3 }))
          assert.strictEqual(gone._tag, "RevisionConflict")
        }).pipe(Effect.provide(layer))
    )

    scoped(
      "bind with an event: written with the binding, ordered before later events; not at all on a conflict",
      () =>
        Effect.gen(function*() {
          const store = yield* Store
          const a = yield* store.put(pod("web"))
          const event = { at: "2026-01-01T00:00:00.000Z", type: "scheduled", message: "bound to node n1" } as const
          yield* store.bind("web", "n1", { expectRevision: a.revision, event })
          yield* store.appendEvent({ at: "2026-01-01T00:00:01.000Z", pod: "web", type: "starting", message: "" })
          const err = yield* Effect.flip(store.bind("web", "n2", { expectRevision: a.revision, event }))
          assert.strictEqual(err._tag, "RevisionConflict")
          const evs = (yield* store.recentEvents(10)).events
          assert.deepStrictEqual(evs.map((e) => [e.pod, e.type]), [["web", "scheduled"], ["web", "starting"]])
          assert.isTrue(evs[0]!.id < evs[1]!.id)
        }).pipe(Effect.provide(layer))
    )

    scoped(
      "delete with an event: written with the delete, ordered before later events; not at all when nothing is deleted",
      () =>
        Effect.gen(function*() {
          const store = yield* Store
          const a = yield* store.put(pod("web"))
          yield* store.put(pod("db"))
          const event = { at: "2026-01-01T00:00:00.000Z", type: "deleted" } as const
          // A conflict deletes nothing and tells of nothing.
          const err = yield* Effect.flip(store.delete("web", { expectRevision: a.revision - 1, event }))
          assert.strictEqual(err._tag, "RevisionConflict")
          assert.isTrue(yield* store.delete("web", { expectRevision: a.revision, event }))
          yield* store.appendEvent({ at: "2026-01-01T00:00:01.000Z", pod: "db", type: "starting", message: "" })
          // A missing pod: false, no event.
          assert.isFalse(yield* store.delete("web", { event }))
          assert.isFalse(yield* store.delete("nope", { event }))
          // Without an event, a delete appends none (as before).
          assert.isTrue(yield* store.delete("db"))
          const evs = (yield* store.recentEvents(10)).events
          assert.deepStrictEqual(evs.map((e) => [e.pod, e.type]), [["web", "deleted"], ["db", "starting"]])
          assert.isTrue(evs[0]!.id < evs[1]!.id)
          assert.deepStrictEqual((yield* store.list).pods, [])
        }).pipe(Effect.provide(layer))
    )

    live("bind appears on the change feed as a PodPut at its new revision", () =>
      Effect.gen(function*() {
        const store = yield* Store
        yield* store.put(pod("web"))
        const from = yield* store.revision
        const fiber = yield* store.watch(from).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("50 millis")
        const b = Option.getOrThrow(yield* store.bind("web", "n1"))
        yield* store.put(pod("web", "never"))
        const got = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        const first = got[0]!
        assert.strictEqual(first._tag, "PodPut")
        assert.strictEqual(first.revision, b.revision)
        if (first._tag === "PodPut") assert.strictEqual(first.pod.node, "n1")
        const second = got[1]!
        if (second._tag === "PodPut") assert.strictEqual(second.pod.node, "n1")
        else assert.fail(`expected a PodPut, got ${second._tag}`)
      }).pipe(Effect.provide(layer)), { timeout: 10_000 })

    live("watch replays from a revision and follows new writes in order", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const r0 = yield* store.revision
        yield* store.put(pod("a"))
        const from = yield* store.revision
        yield* store.put(pod("b"))
        const fiber = yield* store.watch(from).pipe(Stream.take(3), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("50 millis")
        yield* store.delete("a")
        yield* store.put(pod("c"))
        const got = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        assert.deepStrictEqual(got.map((c) => [c._tag, c.revision]), [["PodPut", r0 + 2], ["PodDeleted", r0 + 3], [
          "PodPut",
          r0 + 4
        ]])
      }).pipe(Effect.provide(layer)), { timeout: 10_000 })

    live(
      "putAll writes a batch in order, revisions rising in its order, each pod with its event, on the feed",
      () =>
        Effect.gen(function*() {
          const store = yield* Store
          const before = yield* store.put(pod("b", "never"))
          const r0 = yield* store.revision
          const feed = yield* store.watch(r0).pipe(Stream.take(3), Stream.runCollect, Effect.fork)
          const evs = yield* store.events().pipe(Stream.take(3), Stream.runCollect, Effect.fork)
          yield* Effect.sleep("50 millis")
          const at = new Date().toISOString()
          const stored = yield* store.putAll(
            [pod("a"), pod("b"), pod("c")],
            (p) => ({ at, pod: p.name, type: "applied", message: `revision ${p.revision}` })
          )
          // Rising in the batch's order (consecutive in SQLite and memory; etcd counts each event too).
          const revs = stored.map((p) => p.revision)
          assert.deepStrictEqual(stored.map((p) => p.name), ["a", "b", "c"])
          assert.isAbove(revs[0]!, r0)
          assert.isAbove(revs[1]!, revs[0]!)
          assert.isAbove(revs[2]!, revs[1]!)
          // A pod already there keeps its creation revision; its spec is replaced.
          assert.strictEqual(stored[1]!.createdRevision, before.createdRevision)
          assert.strictEqual(Option.getOrThrow(yield* store.get("b")).spec.restart, "always")
          assert.isAtLeast(yield* store.revision, revs[2]!)
          assert.deepStrictEqual((yield* store.list).pods.map((p) => [p.name, p.revision]), [
            ["a", revs[0]],
            ["b", revs[1]],
            ["c", revs[2]]
          ])
          const changes = Chunk.toReadonlyArray(yield* Fiber.join(feed).pipe(Effect.timeout("10 seconds")))
          assert.deepStrictEqual(
            changes.map((c) => c._tag === "PodPut" ? [c.pod.name, c.revision] : [c._tag, c.revision]),
            [["a", revs[0]], ["b", revs[1]], ["c", revs[2]]]
          )
          const events = Chunk.toReadonlyArray(yield* Fiber.join(evs).pipe(Effect.timeout("10 seconds")))
          assert.deepStrictEqual(
            events.map((e) => "type" in e ? `${e.type} ${e.pod} ${e.message}` : e._tag),
            revs.map((r, k) => `applied ${"abc"[k]} revision ${r}`)
          )
          // An empty batch writes nothing.
          const r1 = yield* store.revision
          assert.deepStrictEqual(yield* store.putAll([], () => assert.fail("no event for no pod")), [])
          assert.strictEqual(yield* store.revision, r1)
        }).pipe(Effect.provide(layer)),
      { timeout: 20_000 }
    )

    live("status is written and read back; events are appended and followed", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const at = new Date().toISOString()
        yield* store.putStatus({
          name: "web",
          phase: "running",
          restarts: 2,
          specRevision: 1,
          hostPid: 42,
          updatedAt: at
        })
        const st = Option.getOrThrow(yield* store.getStatus("web"))
        assert.strictEqual(st.hostPid, 42)
        assert.strictEqual((yield* store.listStatus).statuses.length, 1)
        yield* store.deleteStatus("web")
        assert.isTrue(Option.isNone(yield* store.getStatus("web")))
        // From the start of this fresh store: whether the stream is up before the appends or not.
        const fiber = yield* store.events(0).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("30 millis")
        yield* store.appendEvent({ at, pod: "web", type: "starting" })
        yield* store.appendEvent({ at, pod: "web", type: "running", hostPid: 42 })
        const evs = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        assert.deepStrictEqual(evs.map((e) => "type" in e ? e.type : e._tag), ["starting", "running"])
        const ids = evs.map((e) => "id" in e ? e.id : -1)
        assert.isTrue(ids[1]! > ids[0]!)
        assert.deepStrictEqual((yield* store.recentEvents(1)).events.map((e) => e.type), ["running"])
      }).pipe(Effect.provide(layer)), { timeout: 10_000 })

    live(
      "putStatusAndEvent writes the status and its event: the event is followed, carries it, takes the next id",
      () =>
        Effect.gen(function*() {
          const store = yield* Store
          const at = new Date().toISOString()
          const status = (phase: "starting" | "running") =>
            ({ name: "web", phase, restarts: 0, specRevision: 1, hostPid: 42, updatedAt: at }) as const
          const fiber = yield* store.events(0).pipe(Stream.take(3), Stream.runCollect, Effect.fork)
          yield* Effect.sleep("30 millis")
          const before = yield* store.appendEvent({ at, pod: "web", type: "applied" })
          const starting = yield* store.putStatusAndEvent(status("starting"), {
            at,
            pod: "web",
            type: "starting",
            restarts: 0,
            status: status("starting")
          })
          assert.strictEqual(Option.getOrThrow(yield* store.getStatus("web")).phase, "starting")
          const running = yield* store.putStatusAndEvent(status("running"), {
            at,
            pod: "web",
            type: "running",
            restarts: 0,
            status: status("running")
          })
          assert.isTrue(starting.id > before.id && running.id > starting.id)
          assert.strictEqual(Option.getOrThrow(yield* store.getStatus("web")).phase, "running")
          assert.deepStrictEqual((yield* store.listStatus).statuses.map((s) => s.phase), ["running"])
          const evs = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
          assert.deepStrictEqual(evs.map((e) => "type" in e ? [e.type, e.status?.phase] : e._tag), [
            ["applied", undefined],
            ["starting", "starting"],
            ["running", "running"]
          ])
          assert.deepStrictEqual(evs.map((e) => "id" in e ? e.id : -1), [before.id, starting.id, running.id])
        }).pipe(Effect.provide(layer)),
      { timeout: 10_000 }
    )
  })
}
