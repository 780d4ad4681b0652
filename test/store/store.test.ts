import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Context, Effect, Fiber, Layer, Option, Stream } from "effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { layerMemory } from "../../src/store/memory.js"
import { layerSql, layerSqlite } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"
import { tmpDir } from "../support/tmp.js"
import { pod, storeSuite } from "./suite.js"

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

for (const [label, layer] of layers) storeSuite(label, layer)

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
        const names = (yield* store.list).pods.map((p) => p.name)
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

  // The poll is an hour here: only the watch on the file can deliver these within the test.
  it.scopedLive(
    "a write by another process reaches a watcher and an events reader without polling",
    () =>
      Effect.gen(function*() {
        const dir = yield* tmpDir("tank-store-notify-")
        const file = path.join(dir, "tank.db")
        const watching = yield* storeIn(layerSqlite(file, { pollInterval: "1 hour" }))
        const changes = yield* watching.watch().pipe(Stream.take(3), Stream.runCollect, Effect.fork)
        const events = yield* watching.events().pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("50 millis") // both feeds subscribed
        const run = promisify(execFile)
        const cwd = path.join(import.meta.dirname, "../..")
        // Three separate processes: three separate commits, each must wake the feed by itself.
        for (let i = 0; i < 3; i++) {
          yield* Effect.promise(() =>
            run(
              process.execPath,
              ["--import", "tsx", path.join(import.meta.dirname, "writer.ts"), file, `n${i}`, "1"],
              {
                cwd
              }
            )
          )
        }
        yield* Effect.promise(() =>
          run(process.execPath, [
            "--import",
            "tsx",
            path.join(import.meta.dirname, "../observe/eventWriter.ts"),
            file,
            "n0",
            "running"
          ], {
            cwd
          })
        )
        // Generous bound: without the watch this would take an hour.
        const seen = yield* Fiber.join(changes).pipe(Effect.timeout("20 seconds"))
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(seen).map((c) => c._tag === "PodPut" ? c.pod.name : c._tag),
          ["n0-0", "n1-0", "n2-0"]
        )
        const evs = yield* Fiber.join(events).pipe(Effect.timeout("20 seconds"))
        assert.strictEqual(Chunk.size(evs), 1)
      }),
    { timeout: 60_000 }
  )
})

describe("Store (sqlite, a status with its event)", () => {
  it.scoped("putStatusAndEvent is one transaction: an event that cannot be written takes its status with it", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir("tank-store-pair-")
      const ctx = yield* Layer.build(
        layerSql().pipe(Layer.provideMerge(SqliteClient.layer({ filename: path.join(dir, "x.db") })))
      ).pipe(Effect.orDie)
      const store = Context.get(ctx, Store)
      const sql = Context.get(ctx, SqlClient.SqlClient)
      const at = new Date().toISOString()
      const status = (phase: "starting" | "running") =>
        ({ name: "web", phase, restarts: 0, specRevision: 1, updatedAt: at }) as const
      yield* store.putStatus(status("starting"))
      // The event's insert fails after the status's upsert ran (SQLite aborts that statement only).
      yield* sql.unsafe(
        `CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'no events today'); END`
      ).pipe(Effect.orDie)
      const failed = yield* Effect.flip(
        store.putStatusAndEvent(status("running"), { at, pod: "web", type: "running", status: status("running") })
      )
      assert.strictEqual(failed._tag, "StoreError")
      assert.match(failed.message, /no events today/)
      assert.strictEqual(Option.getOrThrow(yield* store.getStatus("web")).phase, "starting")
      assert.deepStrictEqual((yield* store.recentEvents(10)).events, [])
      // The connection is left outside any transaction: the next write commits.
      yield* sql.unsafe(`DROP TRIGGER no_events`).pipe(Effect.orDie)
      yield* store.putStatusAndEvent(status("running"), { at, pod: "web", type: "running", status: status("running") })
      assert.strictEqual(Option.getOrThrow(yield* store.getStatus("web")).phase, "running")
      assert.deepStrictEqual((yield* store.recentEvents(10)).events.map((e) => e.type), ["running"])
    }))
})

describe("Store (sqlite, a batch of pods)", () => {
  const open = Effect.gen(function*() {
    const dir = yield* tmpDir("tank-store-batch-")
    const ctx = yield* Layer.build(
      layerSql().pipe(Layer.provideMerge(SqliteClient.layer({ filename: path.join(dir, "x.db") })))
    ).pipe(Effect.orDie)
    return { store: Context.get(ctx, Store), sql: Context.get(ctx, SqlClient.SqlClient) }
  })
  const applied = (p: { readonly name: string; readonly revision: number }) => ({
    at: new Date().toISOString(),
    pod: p.name,
    type: "applied" as const,
    message: `revision ${p.revision}`
  })

  it.scoped("putAll is one transaction: a pod whose event cannot be written takes the whole batch with it", () =>
    Effect.gen(function*() {
      const { sql, store } = yield* open
      yield* store.put(pod("a", "never"))
      const r0 = yield* store.revision
      // The third pod's event fails after two pods, their changes and events were written.
      yield* sql.unsafe(
        `CREATE TRIGGER no_c BEFORE INSERT ON events WHEN NEW.body LIKE '%"pod":"c"%'
         BEGIN SELECT RAISE(ABORT, 'not c'); END`
      ).pipe(Effect.orDie)
      const failed = yield* Effect.flip(store.putAll([pod("a"), pod("b"), pod("c")], applied))
      assert.strictEqual(failed._tag, "StoreError")
      assert.match(failed.message, /not c/)
      assert.strictEqual(yield* store.revision, r0)
      assert.deepStrictEqual((yield* store.list).pods.map((p) => [p.name, p.spec.restart]), [["a", "never"]])
      assert.deepStrictEqual((yield* store.recentEvents(10)).events, [])
      // The connection is left outside any transaction: the next batch commits.
      yield* sql.unsafe(`DROP TRIGGER no_c`).pipe(Effect.orDie)
      yield* store.putAll([pod("b"), pod("c")], applied)
      assert.deepStrictEqual((yield* store.list).pods.map((p) => p.name), ["a", "b", "c"])
    }))

  it.scoped(
    "a batch trims the change and event history as single writes would: the feed resyncs past it",
    () =>
      Effect.gen(function*() {
        const { sql, store } = yield* open
        const r0 = yield* store.revision
        const names = Array.from({ length: 1_150 }, (_, i) => `p${i}`)
        yield* store.putAll(names.map((n) => pod(n)), applied)
        // 1 150 changes: those at or below the last multiple of 100 less 1 000 are trimmed (1 100 - 1 000).
        const [kept] = yield* sql<
          { n: number; oldest: number }
        >`SELECT COUNT(*) AS n, MIN(revision) AS oldest FROM changes`
          .pipe(Effect.orDie)
        assert.deepStrictEqual(kept, { n: 1_050, oldest: r0 + 101 })
        const first = yield* store.watch(r0).pipe(Stream.take(1), Stream.runCollect, Effect.timeout("10 seconds"))
        const change = Chunk.unsafeHead(first)
        assert.strictEqual(change._tag, "Resync")
        if (change._tag === "Resync") assert.strictEqual(change.pods.length, 1_150)
        // From a revision still in the history, the feed replays it.
        const next = yield* store.watch(r0 + 100).pipe(Stream.take(1), Stream.runCollect, Effect.timeout("10 seconds"))
        const replayed = Chunk.unsafeHead(next)
        assert.deepStrictEqual(replayed._tag === "PodPut" && [replayed.pod.name, replayed.revision], ["p100", r0 + 101])
        // Each pod's event is there (the event history, 10 000, is not reached).
        const [events] = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM events`.pipe(Effect.orDie)
        assert.strictEqual(events!.n, 1_150)
      }),
    { timeout: 30_000 }
  )
})
