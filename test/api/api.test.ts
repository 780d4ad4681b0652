/**
 * The public operations (src/api/Api.ts) over every Store layer: what `Tank.apply` and friends promise,
 * without a running agent.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel, Option } from "effect"
import * as path from "node:path"
import * as Api from "../../src/api/Api.js"
import { InvalidSpec } from "../../src/spec/decode.js"
import { layerMemory } from "../../src/store/memory.js"
import { layerSql, layerSqlite } from "../../src/store/sqlite.js"
import { Store, type StoreService } from "../../src/store/Store.js"
import { tmpDir } from "../support/tmp.js"

const spec = (name: string, over: Record<string, unknown> = {}) => ({
  name,
  containers: [{ name: "app", image: "busybox" }],
  ...over
})

const sqliteFile = Layer.unwrapScoped(
  Effect.map(tmpDir("tank-api-"), (dir) => layerSqlite(path.join(dir, "tank.db")))
).pipe(Layer.orDie)

const layers = [["memory", layerMemory], ["sqlite", sqliteFile]] as const

const names = Effect.map(Api.list, (pods) => pods.map((p) => p.name))
const eventTypes = Effect.flatMap(Store, (s) => s.recentEvents(100)).pipe(
  Effect.map(({ events }) => events.map((e) => `${e.type} ${e.pod}`))
)

/** Run `eff` with a logger that records warnings, and return them alongside the result. */
const withWarnings = <A, E, R>(eff: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const warnings: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) {
        warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
      }
    })
    return eff.pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Effect.map((a) => [a, warnings] as const)
    )
  })

for (const [label, layer] of layers) {
  describe(`Api (${label} store)`, () => {
    it.scoped("apply of a plain object stores the decoded pod; get and list return it", () =>
      Effect.gen(function*() {
        const stored = yield* Api.apply(spec("web", { restart: "never" }))
        assert.strictEqual(stored.name, "web")
        const got = yield* Api.get("web")
        assert.strictEqual(got.restart, "never")
        assert.strictEqual(got.network, "none")
        assert.deepStrictEqual(got.containers[0]!.mounts, [])
        assert.deepStrictEqual(yield* names, ["web"])
        assert.deepStrictEqual(yield* Api.get("web"), stored.spec)
      }).pipe(Effect.provide(layer)))

    it.scoped("apply of an already-decoded pod stores it unchanged", () =>
      Effect.gen(function*() {
        const first = yield* Api.apply(spec("web"))
        yield* Api.remove("web")
        yield* Api.apply(first.spec)
        assert.deepStrictEqual(yield* Api.get("web"), first.spec)
      }).pipe(Effect.provide(layer)))

    it.scoped("an invalid apply fails with InvalidSpec naming the field, and stores nothing", () =>
      Effect.gen(function*() {
        const err = yield* Effect.flip(Api.apply({ name: "web", containers: [{ name: "c" }] }))
        assert.instanceOf(err, InvalidSpec)
        assert.deepStrictEqual(err._tag === "InvalidSpec" && err.issues.map((i) => i.path), ["containers[0].image"])
        assert.deepStrictEqual(yield* names, [])
        assert.deepStrictEqual(yield* eventTypes, [])
        const notFound = yield* Effect.flip(Api.get("web"))
        assert.strictEqual(notFound._tag, "PodNotFound")
      }).pipe(Effect.provide(layer)))

    it.scoped("apply says created, configured or unchanged; the same spec again writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const a = yield* Api.apply(spec("web"))
        assert.strictEqual(a.outcome, "created")
        const rev = yield* store.revision
        const same = yield* Api.applyAll([spec("web"), spec("db")])
        assert.deepStrictEqual(same.map((p) => [p.name, p.outcome]), [["web", "unchanged"], ["db", "created"]])
        assert.strictEqual(same[0]!.revision, a.revision, "unchanged: no new revision")
        assert.isAbove(yield* store.revision, rev)
        const changed = yield* Api.apply(spec("web", { restart: "never" }))
        assert.strictEqual(changed.outcome, "configured")
        // Defaults spelled out are the same spec.
        assert.strictEqual((yield* Api.apply({ ...spec("db"), restart: "always" })).outcome, "unchanged")
        assert.deepStrictEqual(yield* eventTypes, ["applied web", "applied db", "applied web"])
      }).pipe(Effect.provide(layer)))

    it.scoped("applying the same name twice replaces the spec", () =>
      Effect.gen(function*() {
        const a = yield* Api.apply(spec("web", { restart: "always" }))
        const b = yield* Api.apply(spec("web", { restart: "never" }))
        assert.isAbove(b.revision, a.revision)
        assert.strictEqual((yield* Api.get("web")).restart, "never")
        assert.deepStrictEqual(yield* names, ["web"])
      }).pipe(Effect.provide(layer)))

    it.scoped("remove by name and by pod; removing a missing pod is false, not an error", () =>
      Effect.gen(function*() {
        yield* Api.apply(spec("web"))
        const db = yield* Api.apply(spec("db"))
        assert.deepStrictEqual(yield* names, ["db", "web"])
        assert.isTrue(yield* Api.remove("web"))
        assert.isTrue(yield* Api.remove(db.spec))
        assert.deepStrictEqual(yield* names, [])
        assert.strictEqual((yield* Effect.flip(Api.get("web")))._tag, "PodNotFound")
        assert.isFalse(yield* Api.remove("web"))
      }).pipe(Effect.provide(layer)))

    it.scoped("apply and remove append 'applied' and 'deleted' events; a no-op remove appends none", () =>
      Effect.gen(function*() {
        yield* Api.apply(spec("web"))
        yield* Api.apply(spec("web", { restart: "never" }))
        yield* Api.remove("web")
        yield* Api.remove("web")
        assert.deepStrictEqual(yield* eventTypes, ["applied web", "applied web", "deleted web"])
      }).pipe(Effect.provide(layer)))

    it.scoped("status of a pod the agent has not acted on is 'pending' at its revision", () =>
      Effect.gen(function*() {
        const stored = yield* Api.apply(spec("web"))
        const s = yield* Api.status("web")
        assert.strictEqual(s.phase, "pending")
        assert.strictEqual(s.restarts, 0)
        assert.strictEqual(s.specRevision, stored.revision)
        assert.strictEqual((yield* Effect.flip(Api.status("nope")))._tag, "PodNotFound")
      }).pipe(Effect.provide(layer)))

    it.scoped("statusAll: observed status wins, unacted pods are pending, deleted pods read terminating", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const web = yield* Api.apply(spec("web"))
        yield* Api.apply(spec("db"))
        const at = new Date().toISOString()
        yield* store.putStatus({
          name: "web",
          phase: "running",
          restarts: 2,
          specRevision: web.revision,
          hostPid: 4242,
          updatedAt: at
        })
        // "gone" was deleted from desired state; no agent has acted on it yet (its status still
        // says running): it reads terminating from the moment of the delete.
        yield* store.putStatus({ name: "gone", phase: "running", restarts: 0, specRevision: 1, updatedAt: at })
        const rows = yield* Api.statusAll
        assert.deepStrictEqual(rows.map((r) => [r.name, r.phase]), [["db", "pending"], ["gone", "terminating"], [
          "web",
          "running"
        ]])
        assert.strictEqual(rows.find((r) => r.name === "gone")!.reason, "deleted; was running")
        assert.strictEqual(rows.find((r) => r.name === "web")!.hostPid, 4242)
        assert.strictEqual((yield* Api.status("web")).phase, "running")
        // One pod by name: the same, until its status is gone too.
        assert.strictEqual((yield* Api.status("gone")).phase, "terminating")
        yield* store.deleteStatus("gone")
        assert.strictEqual((yield* Effect.flip(Api.status("gone")))._tag, "PodNotFound")
      }).pipe(Effect.provide(layer)))

    it.scoped("restart bumps restartGeneration, keeps the spec, and logs 'restarting'", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const before = yield* Api.apply(spec("web"))
        const after = yield* Api.restart("web")
        assert.strictEqual(after.restartGeneration, before.restartGeneration + 1)
        assert.deepStrictEqual(after.spec, before.spec)
        const again = yield* Api.restart("web")
        assert.strictEqual(again.restartGeneration, before.restartGeneration + 2)
        assert.strictEqual(Option.getOrThrow(yield* store.get("web")).restartGeneration, again.restartGeneration)
        assert.deepStrictEqual(yield* eventTypes, ["applied web", "restarting web", "restarting web"])
      }).pipe(Effect.provide(layer)))

    it.scoped("restart of an unknown pod fails with PodNotFound and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const rev = yield* store.revision
        const err = yield* Effect.flip(Api.restart("nope"))
        assert.strictEqual(err._tag, "PodNotFound")
        assert.strictEqual(err._tag === "PodNotFound" && err.pod, "nope")
        assert.strictEqual(yield* store.revision, rev)
        assert.deepStrictEqual(yield* eventTypes, [])
      }).pipe(Effect.provide(layer)))

    it.scoped("applyAll stores every pod when all are valid", () =>
      Effect.gen(function*() {
        const stored = yield* Api.applyAll([spec("web"), spec("db")])
        assert.deepStrictEqual(stored.map((s) => s.name), ["web", "db"])
        assert.deepStrictEqual(yield* names, ["db", "web"])
      }).pipe(Effect.provide(layer)))

    it.scoped("applyAll with one invalid document stores none and says which document and field", () =>
      Effect.gen(function*() {
        const err = yield* Effect.flip(Api.applyAll([spec("web"), spec("db", { restart: "sometimes" }), spec("x")]))
        assert.instanceOf(err, InvalidSpec)
        if (err._tag !== "InvalidSpec") return
        assert.strictEqual(err.source, "document 2")
        assert.strictEqual(err.pod, "db")
        assert.deepStrictEqual(err.issues.map((i) => i.path), ["restart"])
        assert.deepStrictEqual(yield* names, [])
      }).pipe(Effect.provide(layer)))

    it.scoped("applyAll with a duplicate name is rejected and stores none", () =>
      Effect.gen(function*() {
        const err = yield* Effect.flip(Api.applyAll([spec("web"), spec("db"), spec("web", { restart: "never" })]))
        assert.instanceOf(err, InvalidSpec)
        if (err._tag !== "InvalidSpec") return
        assert.strictEqual(err.pod, "web")
        assert.strictEqual(err.source, "document 3")
        assert.deepStrictEqual(err.issues.map((i) => i.path), ["name"])
        assert.match(err.message, /pod "web" appears twice in one apply \(also document 1\)/)
        assert.deepStrictEqual(yield* names, [])
      }).pipe(Effect.provide(layer)))

    it.scoped("seed writes absent pods and returns their names", () =>
      Effect.gen(function*() {
        const written = yield* Api.seed([spec("web"), spec("db")])
        assert.deepStrictEqual(written, ["web", "db"])
        assert.deepStrictEqual(yield* names, ["db", "web"])
      }).pipe(Effect.provide(layer)))

    it.scoped("seed never clobbers a pod changed at runtime", () =>
      Effect.gen(function*() {
        yield* Api.seed([spec("web", { restart: "always" })])
        yield* Api.apply(spec("web", { restart: "never" }))
        const written = yield* Api.seed([spec("web", { restart: "always" }), spec("db")])
        assert.deepStrictEqual(written, ["db"])
        assert.strictEqual((yield* Api.get("web")).restart, "never")
      }).pipe(Effect.provide(layer)))

    it.scoped("seed skips an invalid entry with a warning naming the field, and writes the rest", () =>
      Effect.gen(function*() {
        const [written, warnings] = yield* withWarnings(Api.seed([{ name: "bad" }, spec("ok")]))
        assert.deepStrictEqual(written, ["ok"])
        assert.deepStrictEqual(yield* names, ["ok"])
        assert.strictEqual(warnings.length, 1)
        assert.match(warnings[0]!, /skipping seed pod/)
        assert.match(warnings[0]!, /pod "bad"/)
        assert.match(warnings[0]!, /containers: is missing/)
      }).pipe(Effect.provide(layer)))
  })
}

/**
 * A SQLite store whose calls `record` notes (`note(label, call)`), and a switch that makes SQLite
 * refuse any event of pod "x" (a trigger: SQLite aborts that statement only): a write and its event
 * must then be stored together or not at all.
 */
const recordedSqlite = (
  prefix: string,
  record: (
    inner: StoreService,
    note: <A, E>(label: string, call: Effect.Effect<A, E>) => Effect.Effect<A, E>
  ) => Partial<StoreService>
) =>
  Effect.gen(function*() {
    const dir = yield* tmpDir(prefix)
    const ctx = yield* Layer.build(
      layerSql().pipe(Layer.provideMerge(SqliteClient.layer({ filename: path.join(dir, "tank.db") })))
    ).pipe(Effect.orDie)
    const sql = Context.get(ctx, SqlClient.SqlClient)
    const inner = Context.get(ctx, Store)
    const calls: Array<string> = []
    const note = <A, E>(label: string, call: Effect.Effect<A, E>) =>
      Effect.zipRight(Effect.sync(() => calls.push(label)), call)
    const store = Store.of({ ...inner, ...record(inner, note) })
    const run = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, store)
    const refuseEventsOfX = (refuse: boolean) =>
      sql.unsafe(
        refuse
          ? `CREATE TRIGGER no_x BEFORE INSERT ON events WHEN NEW.body LIKE '%"pod":"x"%'
             BEGIN SELECT RAISE(ABORT, 'not x'); END`
          : `DROP TRIGGER no_x`
      ).pipe(Effect.orDie)
    return { inner, calls, run, refuseEventsOfX }
  })

describe("Api.applyAll (sqlite): one write for the batch", () => {
  it.scoped("a batch (or one pod) whose write fails part-way stores none of it; a good one is one putAll, no put per pod", () =>
    Effect.gen(function*() {
      const { calls, inner, refuseEventsOfX, run } = yield* recordedSqlite("tank-api-batch-", (inner, note) => ({
        put: (p, o) => note(`put ${p.name}`, inner.put(p, o)),
        putAll: (ps, e) => note(`putAll ${ps.length}`, inner.putAll(ps, e))
      }))
      // The third pod's `applied` event cannot be written.
      yield* refuseEventsOfX(true)
      const failed = yield* Effect.flip(run(Api.applyAll([spec("web"), spec("db"), spec("x")])))
      assert.strictEqual(failed._tag, "StoreError")
      assert.deepStrictEqual(yield* run(names), [])
      assert.deepStrictEqual(yield* run(eventTypes), [])
      // One pod too: its record goes with its event or not at all.
      assert.strictEqual((yield* Effect.flip(run(Api.apply(spec("x")))))._tag, "StoreError")
      assert.deepStrictEqual(yield* run(names), [])
      yield* refuseEventsOfX(false)
      calls.length = 0
      const stored = yield* run(Api.applyAll([spec("web"), spec("db"), spec("x")]))
      assert.deepStrictEqual(stored.map((p) => [p.name, p.outcome]), [["web", "created"], ["db", "created"], [
        "x",
        "created"
      ]])
      assert.deepStrictEqual(calls, ["putAll 3"])
      assert.deepStrictEqual(yield* run(eventTypes), ["applied web", "applied db", "applied x"])
      // Revisions in the batch's order, each event naming its pod's.
      const events = (yield* inner.recentEvents(3)).events
      assert.deepStrictEqual(events.map((e) => e.message), stored.map((p) => `revision ${p.revision}`))
    }))
})

describe("Api.remove (sqlite): one write for the delete and its event", () => {
  it.scoped("a delete whose event cannot be written deletes nothing; a good one is one delete, no appendEvent", () =>
    Effect.gen(function*() {
      const { calls, refuseEventsOfX, run } = yield* recordedSqlite("tank-api-remove-", (inner, note) => ({
        delete: (n, o) => note(`delete ${n}`, inner.delete(n, o)),
        appendEvent: (e) => note(`appendEvent ${e.type}`, inner.appendEvent(e))
      }))
      yield* run(Api.applyAll([spec("web"), spec("x")]))
      // The `deleted` event of x cannot be written: its pod must then stay (no pod gone untold).
      yield* refuseEventsOfX(true)
      assert.strictEqual((yield* Effect.flip(run(Api.remove("x"))))._tag, "StoreError")
      assert.deepStrictEqual(yield* run(names), ["web", "x"])
      yield* refuseEventsOfX(false)
      calls.length = 0
      assert.isTrue(yield* run(Api.remove("x")))
      assert.isFalse(yield* run(Api.remove("x")))
      assert.deepStrictEqual(calls, ["delete x", "delete x"])
      assert.deepStrictEqual(yield* run(names), ["web"])
      assert.deepStrictEqual(yield* run(eventTypes), ["applied web", "applied x", "deleted x"])
    }))
})
