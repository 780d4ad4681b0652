// Unreadable SQLite rows (written with the project's own SQLite client) are isolated, not fatal.
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { canonicalJson } from "../../src/spec/decode.js"
import { encodeSpec, memoRows, podFromRow } from "../../src/store/rows.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"
import { tmpDir } from "../support/tmp.js"
import { invalidSuite } from "./invalidSuite.js"
import { sqliteCorrupt } from "./sqliteCorrupt.js"
import { pod } from "./suite.js"

const sqliteEnv = Effect.gen(function*() {
  const dir = yield* tmpDir("tank-store-bad-")
  const file = path.join(dir, "tank.db")
  const store = Context.get(
    yield* Layer.build(layerSqlite(file, { pollInterval: "20 millis" })).pipe(Effect.orDie),
    Store
  )
  return { store, corrupt: yield* sqliteCorrupt(file), file }
})

invalidSuite("sqlite", sqliteEnv)

describe("Store (sqlite): rows behind the Store's back", () => {
  it("whole-table reads decode only rows that changed since the last read (memoRows)", () => {
    const decoded: Array<string> = []
    const decode = memoRows((r) => (decoded.push(String(r.name)), `${String(r.name)}@${String(r.body)}`))
    const a = { name: "a", body: "1" }
    const b = { name: "b", body: "1" }
    assert.deepStrictEqual(decode([a, b]), ["a@1", "b@1"])
    // Equal rows (new objects, as every query returns) are not decoded again; a changed one is.
    assert.deepStrictEqual(decode([{ ...a }, { ...b, body: "2" }]), ["a@1", "b@2"])
    assert.deepStrictEqual(decoded, ["a", "b", "b"])
    // A row gone from a read is forgotten: back with the same text, it is decoded again.
    decode([{ ...a }])
    decode([{ ...a }, { ...b, body: "2" }])
    assert.deepStrictEqual(decoded, ["a", "b", "b", "b"])
  })

  it("one spec text read back several times is decoded once; other text, even a bad one, on its own", () => {
    const row = (spec: string) => ({
      name: "web",
      spec,
      spec_bytes: spec.length,
      revision: 3,
      created_revision: 1,
      updated_at: 0,
      restart_generation: 0,
      node: null
    })
    const text = encodeSpec(pod("web"))
    const first = podFromRow(row(text))
    const again = podFromRow({ ...row(text), revision: 4 })
    assert.isTrue(first._tag === "Right" && again._tag === "Right")
    if (first._tag !== "Right" || again._tag !== "Right") return
    // The same decoded spec (the feed, the reconciler's list and the next apply's get share it),
    // so its canonical key is worked out once too; the row's own columns are its own.
    assert.strictEqual(again.right.spec, first.right.spec)
    assert.strictEqual(again.right.revision, 4)
    assert.strictEqual(canonicalJson(again.right.spec), canonicalJson(pod("web")))
    const edited = text.replace("\"busybox\"", "\"busybox:1.36\"")
    const other = podFromRow(row(edited))
    assert.isTrue(other._tag === "Right" && other.right.spec.containers[0]!.image === "busybox:1.36")
    const bad = text.replace("\"containers\"", "\"containerz\"")
    assert.strictEqual(podFromRow(row(bad))._tag, "Left")
    assert.strictEqual(podFromRow(row(bad))._tag, "Left")
  })

  it.scopedLive("a status edited in place (nothing else moved) is read as it now is by the same reader", () =>
    Effect.gen(function*() {
      const { corrupt, store } = yield* sqliteEnv
      const status = {
        name: "web",
        phase: "running" as const,
        restarts: 0,
        specRevision: 1,
        updatedAt: "2026-01-01T00:00:00.000Z"
      }
      yield* store.putStatus(status)
      yield* store.putStatus({ ...status, name: "db" })
      assert.deepStrictEqual((yield* store.listStatus).statuses.map((s) => s.name), ["db", "web"])
      yield* corrupt.sql`UPDATE status SET body = '{"name":"web","phase":' WHERE name = 'web'`.pipe(Effect.orDie)
      const after = yield* store.listStatus
      assert.deepStrictEqual(after.statuses.map((s) => s.name), ["db"])
      assert.deepStrictEqual(after.invalid.map((r) => r.key), ["web"])
      yield* corrupt.sql`UPDATE status SET body = ${JSON.stringify({ ...status, restarts: 3 })} WHERE name = 'web'`
        .pipe(Effect.orDie)
      assert.deepStrictEqual((yield* store.listStatus).statuses.map((s) => [s.name, s.restarts]), [["db", 0], [
        "web",
        3
      ]])
    }))

  it.scopedLive(
    "an in-place edit with unreadable columns is invalid to the next reader; a re-apply repairs it",
    () =>
      Effect.gen(function*() {
        const { corrupt, file, store } = yield* sqliteEnv
        yield* store.put(pod("web"))
        yield* store.put(pod("db"))
        yield* corrupt.sql`UPDATE pods SET revision = 'x', restart_generation = 'y' WHERE name = 'web'`.pipe(
          Effect.orDie
        )
        // Disk damage moves no revision: a new reader (an agent starting, the CLI) reads the rows afresh.
        const fresh = Context.get(yield* Layer.build(layerSqlite(file)).pipe(Effect.orDie), Store)
        const before = yield* fresh.list
        assert.deepStrictEqual(before.pods.map((p) => p.name), ["db"])
        assert.deepStrictEqual(before.invalid.map((r) => [r.key, r.reason.startsWith("bad columns")]), [["web", true]])
        yield* store.put(pod("web", "never"))
        const after = yield* fresh.list
        assert.deepStrictEqual(after.invalid, [])
        assert.deepStrictEqual(after.pods.map((p) => [p.name, p.spec.restart, p.restartGeneration]), [
          ["db", "always", 0],
          ["web", "never", 0]
        ])
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "a 200 MB row is reported too large without being read: a reader process stays small and fast",
    () =>
      Effect.gen(function*() {
        const { corrupt, file, store } = yield* sqliteEnv
        yield* store.put(pod("good"))
        type Read = { ms: number; maxRssMb: number; pods: Array<string>; invalid: Array<string> }
        const readList = Effect.promise(() =>
          promisify(execFile)(process.execPath, [
            "--import",
            "tsx",
            path.join(import.meta.dirname, "readList.ts"),
            file
          ], {
            cwd: path.join(import.meta.dirname, "../.."),
            maxBuffer: 1 << 20
          })
        ).pipe(Effect.map((out) => JSON.parse(out.stdout) as Read))
        // The same reader without the row: its own footprint (tsx, Effect, SQLite) is the baseline.
        const baseline = yield* readList
        // SQLite builds the 200 MB text itself: this test process never holds it.
        yield* corrupt.sql`INSERT INTO pods (name, spec, revision, created_revision, updated_at, restart_generation)
                           VALUES ('huge', printf('%.*c', 209715200, 'x'), 99, 99, 0, 0)`.pipe(Effect.orDie)
        yield* corrupt.sql`UPDATE meta SET value = 99 WHERE key = 'revision'`.pipe(Effect.orDie)
        const r = yield* readList
        // Reading the row would cost 200 MB of text (twice that as a JS string) and a parse: +420 MB.
        assert.isBelow(
          r.maxRssMb - baseline.maxRssMb,
          64,
          `reader max RSS ${r.maxRssMb} MB, ${baseline.maxRssMb} without`
        )
        assert.isBelow(r.ms, 1000, `list took ${r.ms} ms`)
        assert.deepStrictEqual(r.pods, ["good"])
        assert.strictEqual(r.invalid.length, 1)
        assert.match(
          r.invalid[0]!,
          /pods row "huge" \(revision 99\) is invalid: too large: 209715200 bytes \(the limit is 1048576\)/
        )
      }),
    { timeout: 60_000 }
  )
})
