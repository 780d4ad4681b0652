/**
 * Issue 19: a store that cannot grow (a full disk: SQLITE_FULL, here through max_page_count) fails
 * the write with a StoreError that says so in words with SQLite's code, not SQLite's generic
 * "Failed to execute statement"; nothing of the write is kept and the store stays readable.
 */
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import * as path from "node:path"
import { layerSql, sqliteClientLayer } from "../../src/store/sqlite.js"
import { Store, StoreError } from "../../src/store/Store.js"
import { tmpDir } from "../support/tmp.js"
import { pod } from "./suite.js"

describe("SQLite store: no space left", () => {
  it.scoped("a write that cannot grow the file fails clearly and leaves nothing half-written", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tmpDir("tank-full-"), "tank.db")
      const ctx = yield* Layer.build(layerSql().pipe(Layer.provideMerge(sqliteClientLayer(file))))
      const store = Context.get(ctx, Store)
      const sql = Context.get(ctx, SqlClient.SqlClient)
      yield* store.put(pod("web"))
      const before = yield* store.revision
      const [{ page_count }] = (yield* sql<{ page_count: number }>`PRAGMA page_count`) as [{ page_count: number }]
      yield* sql.unsafe(`PRAGMA max_page_count = ${page_count}`)
      const big = {
        ...pod("big"),
        labels: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, "v".repeat(60)]))
      }
      const e = yield* Effect.flip(store.put(big))
      assert.instanceOf(e, StoreError)
      assert.include(e.message, "no space left for the store")
      assert.include(e.message, "SQLITE_FULL")
      assert.include(e.message, "big")
      assert.strictEqual(yield* store.revision, before, "the revision bump was rolled back")
      assert.isTrue(Option.isNone(yield* store.get("big")))
      assert.deepStrictEqual((yield* store.list).pods.map((p) => p.name), ["web"])
      assert.deepStrictEqual(yield* store.invalidRecords, [])
    }))
})
