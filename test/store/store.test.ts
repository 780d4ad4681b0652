import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Context, Effect, Fiber, Layer, Option, Stream } from "effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { decodePodEither } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"
import { layerMemory } from "../../src/store/memory.js"
import { layerSql, layerSqlite } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"
import { tmpDir } from "../support/tmp.js"

const pod = (name: string, restart: "always" | "never" = "always"): Pod => {
  const r = decodePodEither({ name, restart, containers: [{ name: "app", image: "busybox" }] })
  if (r._tag === "Left") throw r.left
  return r.right
}

const sqliteFile = Layer.unwrapScoped(
  Effect.map(tmpDir("tank-store-"), (dir) => layerSqlite(path.join(dir, "tank.db"), { pollInterval: "20 millis" }))
)
const byoSqlClient = Layer.unwrapScoped(
  Effect.map(
    tmpDir("tank-store-"),
    (dir) =>
      layerSql({ pollInterval: "20 millis" }).pipe(
        Layer.provide(SqliteClient.layer({ filename: path.join(dir, "x.db") }))
      )
  )
).pipe(Layer.orDie)

/** Build a store layer into the current scope (it stays open until the test ends). */
const storeIn = (layer: Layer.Layer<Store, unknown>) =>
  Layer.build(layer).pipe(Effect.map((ctx) => Context.get(ctx, Store)), Effect.orDie)

const layers = [
  ["memory", layerMemory],
  ["sqlite", Layer.orDie(sqliteFile)],
  ["sqlite (bring-your-own SqlClient)", byoSqlClient]
] as const

for (const [label, layer] of layers) {
  describe(`Store (${label})`, () => {
    it.scoped("put then get round-trips the spec; get of a missing pod is None", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const p = pod("web")
        const stored = yield* store.put(p)
        assert.strictEqual(stored.revision, 1)
        const got = yield* store.get("web")
        assert.deepStrictEqual(Option.getOrThrow(got).spec, p)
        assert.isTrue(Option.isNone(yield* store.get("nope")))
      }).pipe(Effect.provide(layer)))

    it.scoped("put overwrites and bumps the store-wide revision; createdRevision is kept", () =>
      Effect.gen(function*() {
        const store = yield* Store
        const a = yield* store.put(pod("web"))
        yield* store.put(pod("db"))
        const b = yield* store.put(pod("web", "never"))
        assert.strictEqual(b.revision, 3)
        assert.strictEqual(b.createdRevision, a.revision)
        assert.strictEqual(Option.getOrThrow(yield* store.get("web")).spec.restart, "never")
        assert.strictEqual(yield* store.revision, 3)
      }).pipe(Effect.provide(layer)))

    it.scoped("create is create-if-absent: the second fails and leaves the first untouched", () =>
      Effect.gen(function*() {
        const store = yield* Store
        yield* store.create(pod("web", "never"))
        const err = yield* Effect.flip(store.create(pod("web", "always")))
        assert.strictEqual(err._tag, "AlreadyExists")
        assert.strictEqual(Option.getOrThrow(yield* store.get("web")).spec.restart, "never")
      }).pipe(Effect.provide(layer)))

    it.scoped("conditional writes fail on a stale revision", () =>
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

    it.scoped("delete: missing is ok; list is sorted and reflects writes", () =>
      Effect.gen(function*() {
        const store = yield* Store
        assert.deepStrictEqual(yield* store.list, [])
        yield* store.put(pod("web"))
        yield* store.put(pod("db"))
        assert.deepStrictEqual((yield* store.list).map((p) => p.name), ["db", "web"])
        assert.isTrue(yield* store.delete("db"))
        assert.isFalse(yield* store.delete("db"))
        assert.deepStrictEqual((yield* store.list).map((p) => p.name), ["web"])
      }).pipe(Effect.provide(layer)))

    it.scoped("requestRestart bumps the generation and the revision, keeps the spec", () =>
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

    it.scoped("bind sets the node with a new revision and keeps the spec; create starts unbound", () =>
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
      }).pipe(Effect.provide(layer)))

    it.scoped("put and requestRestart keep the binding", () =>
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
        assert.deepStrictEqual((yield* store.list).map((p) => p.node), ["n2"])
      }).pipe(Effect.provide(layer)))

    it.scoped("bind with expectRevision: a stale revision is a conflict and changes nothing", () =>
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
      }).pipe(Effect.provide(layer)))

    it.scopedLive("bind appears on the change feed as a PodPut at its new revision", () =>
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

    it.scopedLive("watch replays from a revision and follows new writes in order", () =>
      Effect.gen(function*() {
        const store = yield* Store
        yield* store.put(pod("a"))
        const from = yield* store.revision
        yield* store.put(pod("b"))
        const fiber = yield* store.watch(from).pipe(Stream.take(3), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("50 millis")
        yield* store.delete("a")
        yield* store.put(pod("c"))
        const got = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        assert.deepStrictEqual(got.map((c) => [c._tag, c.revision]), [["PodPut", 2], ["PodDeleted", 3], ["PodPut", 4]])
      }).pipe(Effect.provide(layer)), { timeout: 10_000 })

    it.scopedLive("status is written and read back; events are appended and followed", () =>
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
        assert.strictEqual((yield* store.listStatus).length, 1)
        yield* store.deleteStatus("web")
        assert.isTrue(Option.isNone(yield* store.getStatus("web")))
        const fiber = yield* store.events().pipe(Stream.take(2), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("30 millis")
        yield* store.appendEvent({ at, pod: "web", type: "starting" })
        yield* store.appendEvent({ at, pod: "web", type: "running", hostPid: 42 })
        const evs = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        assert.deepStrictEqual(evs.map((e) => e.type), ["starting", "running"])
        assert.isTrue(evs[1]!.id > evs[0]!.id)
        assert.deepStrictEqual((yield* store.recentEvents(1)).map((e) => e.type), ["running"])
      }).pipe(Effect.provide(layer)), { timeout: 10_000 })
  })
}

describe("Store (sqlite, schema upgrade)", () => {
  it.scoped("a file written before node bindings upgrades in place: old pods are unbound, bind works", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir("tank-store-up-")
      const file = path.join(dir, "tank.db")
      const spec = JSON.stringify({ name: "old", restart: "always", containers: [{ name: "app", image: "busybox" }] })
      // The version-1 schema, exactly as the first migration created it, with one pod in it.
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        for (
          const stmt of [
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
            "INSERT INTO meta (key, value) VALUES ('revision', 1)",
            `CREATE TABLE pods (name TEXT PRIMARY KEY, spec TEXT NOT NULL, revision INTEGER NOT NULL,
               created_revision INTEGER NOT NULL, updated_at INTEGER NOT NULL,
               restart_generation INTEGER NOT NULL DEFAULT 0)`,
            `CREATE TABLE changes (revision INTEGER PRIMARY KEY, name TEXT NOT NULL, spec TEXT,
               created_revision INTEGER, updated_at INTEGER, restart_generation INTEGER)`,
            "CREATE TABLE status (name TEXT PRIMARY KEY, body TEXT NOT NULL)",
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)",
            `INSERT INTO pods VALUES ('old', '${spec}', 1, 1, 0, 0)`,
            `INSERT INTO changes VALUES (1, 'old', '${spec}', 1, 0, 0)`,
            "PRAGMA user_version = 1"
          ]
        ) yield* sql.unsafe(stmt)
      }).pipe(Effect.provide(SqliteClient.layer({ filename: file })), Effect.scoped, Effect.orDie)
      const store = yield* storeIn(layerSqlite(file))
      const old = Option.getOrThrow(yield* store.get("old"))
      assert.strictEqual(old.node, null)
      assert.strictEqual(old.revision, 1)
      const replay = Chunk.toReadonlyArray(yield* store.watch(0).pipe(Stream.take(1), Stream.runCollect))
      assert.deepStrictEqual(replay.map((c) => c._tag === "PodPut" ? c.pod.node : c._tag), [null])
      const b = Option.getOrThrow(yield* store.bind("old", "n1"))
      assert.strictEqual(b.revision, 2)
      assert.strictEqual(Option.getOrThrow(yield* store.get("old")).node, "n1")
    }))
})

describe("Store (sqlite, several processes)", () => {
  it.scopedLive(
    "concurrent writers in separate processes lose no write and never surface SQLITE_BUSY",
    () =>
      Effect.gen(function*() {
        const dir = yield* tmpDir("tank-store-mp-")
        const file = path.join(dir, "tank.db")
        const writers = 4
        const perWriter = 40
        const script = path.join(import.meta.dirname, "writer.ts")
        const run = promisify(execFile)
        // Watch from this process while the others write: every change must arrive, in order.
        const watching = yield* storeIn(layerSqlite(file, { pollInterval: "10 millis" }))
        const watcher = yield* watching.watch(0).pipe(Stream.take(writers * perWriter), Stream.runCollect, Effect.fork)
        yield* Effect.promise(() =>
          Promise.all(
            Array.from({ length: writers }, (_, w) =>
              run(process.execPath, ["--import", "tsx", script, file, `w${w}`, String(perWriter)], {
                cwd: path.join(import.meta.dirname, "../..")
              }))
          )
        )
        const store = yield* storeIn(layerSqlite(file))
        const names = (yield* store.list).map((p) => p.name)
        assert.strictEqual(names.length, writers * perWriter)
        assert.strictEqual(yield* store.revision, writers * perWriter)
        const changes = Chunk.toReadonlyArray(yield* Fiber.join(watcher))
        assert.deepStrictEqual(
          changes.map((c) => c.revision),
          Array.from({ length: writers * perWriter }, (_, i) => i + 1)
        )
      }),
    { timeout: 60_000 }
  )
})
