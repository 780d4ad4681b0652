/**
 * Poisoned rows against the real agent (root): real busybox pods from the local registry, bad rows
 * written into tank.db with the project's own SQLite client. Convergence of every other pod goes on,
 * the bad pods read "invalid", nothing is started or killed on account of a bad row, and both the
 * agent layer and `tank daemon` start with bad rows present.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { spawn } from "node:child_process"
import * as Agent from "../../src/agent/Agent.js"
import * as Api from "../../src/api/Api.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { buildCli } from "../cli/harness.js"
import { sqliteCorrupt } from "../store/sqliteCorrupt.js"
import { alive, until } from "../support/poll.js"
import { type TankEnv, tankEnv } from "../support/tankEnv.js"

const fast = { backoffBaseMs: 300, backoffCapMs: 2_000, stableWindowMs: 60_000, resyncIntervalMs: 1_000 }

const agentIn = (env: TankEnv) =>
  Layer.build(Agent.layer({ config: { ...env.config, reconciler: { ...env.config.reconciler, ...fast } } })).pipe(
    Effect.map((ctx) => Context.get(ctx, Store))
  )

const sleeper = (env: TankEnv, name: string, extra: object = {}) => ({
  name,
  containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }],
  ...extra
})

const api = <A, E>(store: Store["Type"], eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, store)
const statusOf = (store: Store["Type"], name: string) =>
  store.getStatus(name).pipe(Effect.map(Option.getOrUndefined), Effect.orElseSucceed(() => undefined))
const running = (s: PodStatus | undefined) => s?.phase === "running" && alive(s.hostPid)
const phases = (store: Store["Type"]) =>
  api(store, Api.statusAll).pipe(Effect.map((l) => Object.fromEntries(l.map((s) => [s.name, s.phase]))))

describe("Agent with poisoned rows (live, root)", () => {
  it.scopedLive(
    "starts with bad rows present; a new pod runs, a deleted pod goes; the bad pods read invalid",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        // Before any agent: a good pod, then rows no Tank would write.
        const before = Context.get(yield* Layer.build(layerSqlite(env.config.storeFile)), Store)
        yield* api(before, Api.apply(sleeper(env, "web")))
        const corrupt = yield* sqliteCorrupt(env.config.storeFile)
        yield* corrupt.podRaw("poison", "{\"name\": \"poison\", ")
        yield* corrupt.podSpec("nocontainers", { name: "nocontainers", containers: [] })
        // 200 MB of garbage, built by SQLite itself: neither this process nor the agent ever holds it.
        yield* corrupt.sql`INSERT INTO pods (name, spec, revision, created_revision, updated_at, restart_generation)
                           VALUES ('huge', printf('%.*c', 209715200, 'x'), 90, 90, 0, 0)`.pipe(Effect.orDie)
        yield* corrupt.sql`UPDATE meta SET value = 90 WHERE key = 'revision'`.pipe(Effect.orDie)
        yield* corrupt.status("web", "{ not a status")

        const store = yield* agentIn(env)
        const web = yield* until("web running", statusOf(store, "web"), running, 30_000)
        yield* api(store, Api.apply(sleeper(env, "fresh")))
        const fresh = yield* until("fresh running", statusOf(store, "fresh"), running, 30_000)
        yield* api(store, Api.remove("web"))
        yield* until("web's process gone", Effect.sync(() => alive(web!.hostPid)), (a) => !a)
        yield* until("web's status gone", statusOf(store, "web"), (s) => s === undefined)
        assert.isTrue(alive(fresh!.hostPid))
        const p = yield* phases(store)
        assert.deepStrictEqual([p.poison, p.nocontainers, p.huge, p.fresh], [
          "invalid",
          "invalid",
          "invalid",
          "running"
        ])
        const huge = yield* api(store, Api.status("huge"))
        assert.include(huge.reason, `pods row "huge" (revision 90) is invalid: too large: 209715200 bytes`)
        const invalidEvents = (yield* store.recentEvents(1000)).events.filter((e) => e.type === "invalid")
        assert.deepStrictEqual(invalidEvents.map((e) => e.pod).sort(), ["huge", "nocontainers", "poison"])
        yield* api(store, Api.remove("fresh"))
        yield* until("fresh gone", statusOf(store, "fresh"), (s) => s === undefined, 30_000)
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "a row named shadow whose spec says good1 never touches good1; good1's own row going bad keeps it running",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const store = yield* agentIn(env)
        yield* api(store, Api.apply(sleeper(env, "good1")))
        const good1 = yield* until("good1 running", statusOf(store, "good1"), running, 30_000)
        const corrupt = yield* sqliteCorrupt(env.config.storeFile)
        yield* corrupt.podSpec("shadow", sleeper(env, "good1"))
        // The pods killed each other every ~20 s at the default resync; here it is 1 s.
        yield* Effect.sleep("6 seconds")
        const after = (yield* statusOf(store, "good1"))!
        assert.deepStrictEqual([after.phase, after.hostPid, after.restarts], ["running", good1!.hostPid, 0])
        assert.isTrue(alive(good1!.hostPid))
        assert.isUndefined(yield* statusOf(store, "shadow"))
        assert.strictEqual((yield* phases(store)).shadow, "invalid")

        // good1's own row goes bad: it keeps running, untouched, across resyncs.
        yield* corrupt.podRaw("good1", "garbage")
        yield* Effect.sleep("3 seconds")
        assert.isTrue(alive(good1!.hostPid))
        const held = yield* api(store, Api.status("good1"))
        assert.deepStrictEqual([held.phase, held.hostPid], ["invalid", good1!.hostPid])
        // Removing its row (an explicit repair) is a delete: the pod is stopped.
        const report = yield* api(store, Api.doctor({ remove: ["good1", "shadow"] }))
        assert.deepStrictEqual(report.removed.map((r) => r.key), ["good1", "shadow"])
        yield* until("good1 stopped", Effect.sync(() => alive(good1!.hostPid)), (a) => !a, 30_000)
        yield* until("good1's status gone", statusOf(store, "good1"), (s) => s === undefined)
      }),
    { timeout: 120_000 }
  )

  it.scopedLive("tank daemon starts with bad rows present and names them", () =>
    Effect.gen(function*() {
      const env = yield* tankEnv()
      const cli = yield* Effect.acquireRelease(Effect.sync(buildCli), (c) => Effect.sync(c.cleanup))
      // The store file as Tank creates it, then a row no Tank would write.
      yield* Layer.build(layerSqlite(env.config.storeFile))
      const corrupt = yield* sqliteCorrupt(env.config.storeFile)
      yield* corrupt.podRaw("poison", "not json")
      const daemon = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const child = spawn(process.execPath, [cli.entry, "daemon", "--data-dir", env.dataDir], {
            stdio: ["ignore", "ignore", "pipe"]
          })
          let stderr = ""
          child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
          const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
          return { child, exited, stderr: () => stderr }
        }),
        ({ child, exited }) =>
          Effect.promise(async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
            await exited
          })
      )
      yield* until("the bad row named", Effect.sync(daemon.stderr), (s) => s.includes(`pods row "poison"`), 30_000)
      assert.match(daemon.stderr(), /pods row "poison" \(revision \d+\) is invalid: not JSON.*it is not started/)
      yield* Effect.sleep("1500 millis")
      assert.isNull(daemon.child.exitCode, `the daemon exited: ${daemon.stderr()}`)
      daemon.child.kill("SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => daemon.exited), 0)
    }), { timeout: 60_000 })
})
