/**
 * Issue 19: another process holds the SQLite file's write lock (a second agent's long transaction,
 * a backup tool, `sqlite3` left open in a transaction). Every write path waits for it and lands once
 * the lock goes (pods, status, events, allocations), and waiting never blocks this process's event
 * loop: better-sqlite3 is synchronous, so a long busy_timeout would freeze monitors, probes and the
 * dashboard for as long as the lock is held.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, Ref } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { Allocations } from "../../src/store/Allocations.js"
import * as AllocationsSql from "../../src/store/allocationsSql.js"
import { layerSql, sqliteClientLayer } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"
import { tmpDir } from "../support/tmp.js"
import { pod } from "./suite.js"

/** Start the lock holder; resolves once it holds the lock, with a promise of its exit. */
const holdLock = (file: string, ms: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly done: Promise<number | null>; readonly kill: () => void }, Error>((resume) => {
      const child = spawn(process.execPath, [path.join(import.meta.dirname, "holdLock.mjs"), file, String(ms)], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      const done = new Promise<number | null>((r) => child.on("exit", r))
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        if (d.includes("locked")) resume(Effect.succeed({ done, kill: () => child.kill("SIGKILL") }))
      })
      child.on("error", (e) => resume(Effect.fail(e)))
    }),
    (h) => Effect.sync(h.kill)
  )

describe("SQLite store: the file locked by another writer", () => {
  it.scopedLive(
    "every write path waits and lands after the lock goes; the event loop keeps running",
    () =>
      Effect.gen(function*() {
        const file = path.join(yield* tmpDir("tank-busy-"), "tank.db")
        const client = sqliteClientLayer(file)
        const ctx = yield* Layer.build(Layer.merge(layerSql(), AllocationsSql.layerSql).pipe(Layer.provide(client)))
        const store = Context.get(ctx, Store)
        const allocations = Context.get(ctx, Allocations)
        yield* store.put(pod("old"))
        const LOCK_MS = 1500
        const lock = yield* holdLock(file, LOCK_MS)
        const t0 = Date.now()
        // The longest gap between ticks of a 20 ms timer while the writes wait (the last one included).
        const ticks = yield* Ref.make({ last: Date.now(), maxGap: 0 })
        const tick = Ref.update(ticks, ({ last, maxGap }) => {
          const now = Date.now()
          return { last: now, maxGap: Math.max(maxGap, now - last) }
        })
        const ticker = yield* Effect.fork(Effect.forever(Effect.zipRight(Effect.sleep("20 millis"), tick)))
        yield* Effect.all([
          store.put(pod("web")),
          store.delete("old"),
          store.putStatus({
            name: "web",
            phase: "running",
            restarts: 0,
            specRevision: 2,
            updatedAt: new Date().toISOString()
          }),
          store.appendEvent({ pod: "web", type: "running", at: new Date().toISOString() }),
          allocations.allocate({ pool: "pool", holder: "web", nic: "eth0", first: 10, last: 20 })
        ], { concurrency: "unbounded" })
        const waited = Date.now() - t0
        yield* tick
        yield* Fiber.interrupt(ticker)
        const { maxGap } = yield* Ref.get(ticks)
        yield* Effect.promise(() => lock.done)
        assert.isAtLeast(waited, LOCK_MS - 200, "the writes waited for the lock")
        assert.isBelow(maxGap, 400, "the event loop was never blocked for long")
        assert.isTrue(Option.isSome(yield* store.get("web")))
        assert.isTrue(Option.isNone(yield* store.get("old")))
        assert.strictEqual(Option.getOrUndefined(yield* store.getStatus("web"))?.phase, "running")
        assert.isTrue((yield* store.recentEvents(10)).events.some((e) => e.pod === "web" && e.type === "running"))
        assert.strictEqual((yield* allocations.list).length, 1)
      }),
    { timeout: 20_000 }
  )
})
