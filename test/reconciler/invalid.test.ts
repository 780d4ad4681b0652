/**
 * The reconciler with unreadable records in a real SQLite store (written behind its back with the
 * project's own SQLite client) and the fake runtime: every other pod keeps converging, an invalid pod
 * is neither started nor stopped, and it is reported once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, TestClock } from "effect"
import * as path from "node:path"
import * as Api from "../../src/api/Api.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import { Store, type StoreService } from "../../src/store/Store.js"
import { sqliteCorrupt } from "../store/sqliteCorrupt.js"
import { makeFakeRuntime } from "../support/fakeRuntime.js"
import { tmpDir } from "../support/tmp.js"
import { eventsOf, eventually, phaseIs, podSpec, settle, startReconciler, statusOf, typesOf } from "./harness.js"

const sqliteStore = Effect.gen(function*() {
  const dir = yield* tmpDir("tank-reconciler-bad-")
  const file = path.join(dir, "tank.db")
  const store = Context.get(yield* Layer.build(layerSqlite(file)).pipe(Effect.orDie), Store)
  return { store, corrupt: yield* sqliteCorrupt(file) }
})

const statusAll = (store: StoreService) => Api.statusAll.pipe(Effect.provideService(Store, store), Effect.orDie)

describe("Reconciler: unreadable records", () => {
  it.scoped("a pod whose record goes bad while running is held; the others converge; it is reported once", () =>
    Effect.gen(function*() {
      const { corrupt, store } = yield* sqliteStore
      const fake = yield* makeFakeRuntime()
      const { rec } = yield* startReconciler(store, fake)
      yield* store.put(podSpec("web"))
      yield* store.put(podSpec("db"))
      yield* rec.sync
      yield* eventually(
        "both running",
        Effect.map(
          Effect.all([phaseIs(store, "web", "running"), phaseIs(store, "db", "running")]),
          (x) => x.every(Boolean)
        )
      )
      const pid = fake.pidOf("web")!

      yield* corrupt.podRaw("web", "this is not a pod")
      // A pass per change and some resyncs: none of them may fail, stop or restart web.
      yield* store.put(podSpec("new"))
      yield* store.delete("db")
      yield* rec.sync
      yield* rec.sync
      yield* eventually("new running", phaseIs(store, "new", "running"))
      yield* eventually("db gone", Effect.sync(() => !fake.workloads.has("db")))
      assert.strictEqual(fake.pidOf("web"), pid)
      assert.notInclude(fake.log.join(","), "stop web")
      assert.deepStrictEqual((yield* typesOf(store, "web")).filter((t) => t === "invalid"), ["invalid"])
      assert.include((yield* eventsOf(store, "web")).find((e) => e.type === "invalid")!.message, `pods row "web"`)
      const web = (yield* statusAll(store)).find((s) => s.name === "web")!
      assert.deepStrictEqual([web.phase, web.hostPid], ["invalid", pid])
      assert.include(web.reason, "not JSON")

      // Another bad write is reported again; a valid re-apply with a new spec replaces the run.
      yield* corrupt.podSpec("web", { name: "web", containers: [] })
      yield* rec.sync
      assert.deepStrictEqual((yield* typesOf(store, "web")).filter((t) => t === "invalid"), ["invalid", "invalid"])
      yield* store.put(podSpec("web", { restart: "never" }))
      yield* rec.sync
      yield* eventually("web replaced", Effect.sync(() => (fake.pidOf("web") ?? pid) !== pid))
      assert.include(fake.log, `stop web ${pid}`)
    }))

  it.scoped("a deleted invalid pod is stopped like any deleted pod", () =>
    Effect.gen(function*() {
      const { corrupt, store } = yield* sqliteStore
      const fake = yield* makeFakeRuntime()
      const { rec } = yield* startReconciler(store, fake)
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      const pid = fake.pidOf("web")!
      yield* corrupt.podRaw("web", "{")
      yield* rec.sync
      assert.strictEqual(fake.pidOf("web"), pid)
      yield* store.delete("web")
      yield* rec.sync
      yield* eventually("stopped", Effect.sync(() => !fake.workloads.has("web")))
      assert.include(fake.log, `stop web ${pid}`)
      yield* eventually("status removed", Effect.map(statusOf(store, "web"), (s) => s === undefined))
    }))

  it.scoped("a row named shadow whose spec says good1 never starts, so it never fights good1", () =>
    Effect.gen(function*() {
      const { corrupt, store } = yield* sqliteStore
      const fake = yield* makeFakeRuntime()
      const { rec } = yield* startReconciler(store, fake, { resyncIntervalMs: 1_000 })
      yield* store.put(podSpec("good1"))
      yield* rec.sync
      yield* eventually("good1 running", phaseIs(store, "good1", "running"))
      const pid = fake.pidOf("good1")!
      yield* corrupt.podSpec("shadow", { name: "good1", containers: [{ name: "app", image: "busybox" }] })
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust("5 seconds")
        yield* settle
      }
      assert.strictEqual(fake.pidOf("good1"), pid)
      assert.strictEqual(fake.stats.starts, 1)
      assert.deepStrictEqual(fake.log.filter((l) => !l.startsWith("start good1")), [])
      // Nothing writes a status for it: it is reported from its record.
      assert.isUndefined(yield* statusOf(store, "shadow"))
      const shadow = (yield* statusAll(store)).find((s) => s.name === "shadow")!
      assert.strictEqual(shadow.phase, "invalid")
      assert.include(shadow.reason, `the spec's name "good1" is not its key "shadow"`)
      assert.deepStrictEqual(yield* typesOf(store, "shadow"), ["invalid"])
    }))

  it.scoped("at boot: an invalid pod is not started nor purged; a re-apply adopts its run, a delete purges it", () =>
    Effect.gen(function*() {
      const { corrupt, store } = yield* sqliteStore
      const fake = yield* makeFakeRuntime()
      const a = yield* startReconciler(store, fake)
      for (const n of ["keep", "fixme", "dropme"]) yield* store.put(podSpec(n))
      yield* a.rec.sync
      yield* eventually("all running", Effect.map(statusAll(store), (l) => l.every((s) => s.phase === "running")))
      const pids = new Map(["keep", "fixme", "dropme"].map((n) => [n, fake.pidOf(n)!]))
      yield* a.close
      // While no agent runs, two records go bad.
      yield* corrupt.podRaw("fixme", "garbage")
      yield* corrupt.podRaw("dropme", "garbage")

      const b = yield* startReconciler(store, fake, { agentPid: 5353 })
      yield* b.rec.sync
      assert.include(fake.log, `adopt keep ${pids.get("keep")}`)
      for (const n of ["fixme", "dropme"]) {
        assert.strictEqual(fake.pidOf(n), pids.get(n), `${n} left running`)
        assert.notInclude(fake.log.join(","), `purge ${n}`)
        assert.notInclude(fake.log.join(","), `sweep ${n}`)
        assert.deepStrictEqual((yield* typesOf(store, n)).filter((t) => t === "invalid"), ["invalid"])
      }
      // Convergence goes on: a new pod runs.
      yield* store.put(podSpec("fresh"))
      yield* b.rec.sync
      yield* eventually("fresh running", phaseIs(store, "fresh", "running"))

      // The same spec re-applied: the surviving run is adopted, not restarted.
      yield* store.put(podSpec("fixme"))
      yield* b.rec.sync
      yield* eventually("fixme adopted", Effect.sync(() => fake.log.includes(`adopt fixme ${pids.get("fixme")}`)))
      yield* eventually("fixme running", phaseIs(store, "fixme", "running"))
      assert.deepStrictEqual(fake.log.filter((l) => l.startsWith("start fixme")), [`start fixme ${pids.get("fixme")}`])
      assert.strictEqual(Option.getOrThrow(yield* store.getStatus("fixme")).hostPid, pids.get("fixme"))
      // Deleted while invalid: purged like a pod deleted while no agent ran.
      yield* store.delete("dropme")
      yield* b.rec.sync
      assert.include(fake.log, "purge dropme")
      assert.isFalse(fake.workloads.has("dropme"))
      yield* eventually("dropme's status removed", Effect.map(statusOf(store, "dropme"), (s) => s === undefined))
    }))

  it.scoped("an unreadable status is rewritten by its pod's worker; one of no pod is deleted", () =>
    Effect.gen(function*() {
      const { corrupt, store } = yield* sqliteStore
      const fake = yield* makeFakeRuntime()
      const { rec } = yield* startReconciler(store, fake, { resyncIntervalMs: 1_000 })
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      yield* corrupt.status("web", "{ broken")
      yield* corrupt.status("ghost", "{ broken")
      assert.strictEqual((yield* Effect.flip(store.getStatus("web")))._tag, "InvalidRecord")
      yield* TestClock.adjust("2 seconds")
      yield* eventually(
        "web's status readable again",
        Effect.map(
          store.getStatus("web").pipe(Effect.option),
          (s) => Option.isSome(s) && Option.isSome(s.value) && s.value.value.phase === "running"
        )
      )
      assert.strictEqual(Option.getOrThrow(yield* store.getStatus("web")).hostPid, fake.pidOf("web"))
      yield* eventually(
        "ghost's deleted",
        Effect.map(store.listStatus, (l) => l.invalid.length === 0).pipe(Effect.orDie)
      )
      assert.deepStrictEqual((yield* store.listStatus).statuses.map((s) => s.name), ["web"])
    }))
})
