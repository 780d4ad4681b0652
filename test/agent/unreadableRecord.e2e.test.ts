/**
 * e2e (root), issue 19: a run record (`<dataDir>/run/<pod>/pod.json`) that a new agent cannot read
 * must never be taken for "the pod is gone". The real agent runs as its own process and is
 * SIGKILLed; while none runs, each pod's record is damaged in one way (truncated, an unknown
 * version, a directory in its place: EISDIR, and mode 000 — which root reads all the same). The
 * new agent must leave every workload running, report the unreadable ones `unknown` with the file
 * and the reason (status and event), and `tank delete` must still remove them cleanly.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Api from "../../src/api/Api.js"
import { podLayout } from "../../src/runtime/layout.js"
import { currentLine } from "../../src/runtime/record.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { alive, until } from "../support/poll.js"
import { tankEnv } from "../support/tankEnv.js"
import { exited, startAgent } from "./fixtures/agentProcess.js"

const running = (s: PodStatus | undefined) => s?.phase === "running" && alive(s.hostPid)

/** How each pod's record is damaged while no agent runs, and what the status must say then. */
const damages = {
  "rec-torn": { damage: (f: string) => fs.writeFileSync(f, fs.readFileSync(f, "utf8").slice(0, 40)), says: "not JSON" },
  "rec-version": {
    damage: (f: string) =>
      // The journal's last line is the record (record.ts).
      fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(currentLine(fs.readFileSync(f, "utf8"))), version: 99 })),
    says: "record version 99"
  },
  "rec-dir": {
    damage: (f: string) => {
      fs.rmSync(f)
      fs.mkdirSync(f)
    },
    says: "EISDIR"
  }
} as const
const unreadable = Object.keys(damages) as ReadonlyArray<keyof typeof damages>
/** Mode 000 stops nobody but root's peers: the agent (root, CAP_DAC_OVERRIDE) reads it and adopts. */
const MODE_000 = "rec-mode000"

describe("Agent restart with unreadable run records (root)", () => {
  it.scopedLive(
    "the pods keep running, read unknown naming the file and the reason; delete still removes them cleanly",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        fs.writeFileSync(
          path.join(env.dataDir, "config.yaml"),
          JSON.stringify({
            reconciler: { resyncIntervalMs: 500, stopGracePeriodMs: 1000 },
            host: { dns: ["10.0.0.1"] }
          })
        )
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
        const store = Context.get(yield* Layer.build(layerSqlite(env.config.storeFile)), Store)
        const withStore = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, store)
        const names = [...unreadable, MODE_000]
        const a1 = startAgent(env.dataDir)
        yield* Effect.addFinalizer(() => Effect.sync(() => a1.kill("SIGKILL")))
        yield* withStore(Api.applyAll(names.map((name) => ({
          name,
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
        }))))
        const first = yield* until(
          "all running",
          Effect.map(store.listStatus, (l) => l.statuses),
          (l) => names.every((n) => running(l.find((s) => s.name === n))),
          40_000
        )
        const pids = Object.fromEntries(first.map((s) => [s.name, s.hostPid!]))
        a1.kill("SIGKILL")
        yield* Effect.promise(() => exited(a1))

        for (const n of unreadable) damages[n].damage(podLayout(env.dataDir, n).record)
        fs.chmodSync(podLayout(env.dataDir, MODE_000).record, 0o000)

        const lastId = Math.max(0, ...(yield* store.recentEvents(500)).events.map((e) => e.id))
        const a2 = startAgent(env.dataDir)
        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            if (a2.exitCode !== null) return
            a2.kill("SIGTERM")
            await exited(a2)
          })
        )
        const statuses = yield* until(
          "unknown",
          Effect.map(store.listStatus, (l) => l.statuses),
          (l) => unreadable.every((n) => l.find((s) => s.name === n)?.phase === "unknown"),
          30_000
        )
        for (const n of unreadable) {
          const s = statuses.find((s) => s.name === n)!
          const file = podLayout(env.dataDir, n).record
          assert.include(s.reason, file, `${n}: the reason names the file`)
          assert.include(s.reason, damages[n].says, `${n}: the reason says what is wrong`)
          assert.include(s.reason, `tank delete ${n}`, `${n}: the reason says what to do`)
        }
        // Several resync periods later, every workload is still the same process.
        yield* Effect.sleep("3 seconds")
        for (const n of names) assert.isTrue(alive(pids[n]), `${n}: workload ${pids[n]} left running`)
        const events = (yield* store.recentEvents(500)).events.filter((e) => e.id > lastId)
        for (const n of unreadable) {
          const e = events.find((e) => e.pod === n && e.type === "unknown")
          assert.isDefined(e, `${n}: an unknown event`)
          assert.include(e!.message, podLayout(env.dataDir, n).record)
          assert.isFalse(events.some((e) => e.pod === n && (e.type === "starting" || e.type === "exited")))
        }
        const adopted = Option.getOrUndefined(yield* store.getStatus(MODE_000))
        assert.strictEqual(adopted?.phase, "running")
        assert.strictEqual(adopted?.hostPid, pids[MODE_000], "mode 000: adopted (root reads it), same workload")

        // Delete: everything of each run goes, found by name without its record.
        yield* withStore(Effect.forEach(names, (n) => Api.remove(n), { discard: true }))
        yield* until(
          "all gone",
          Effect.map(store.listStatus, (l) => l.statuses),
          (l) => names.every((n) => !l.some((s) => s.name === n)),
          30_000
        )
        for (const n of names) {
          assert.isFalse(alive(pids[n]), `${n}: workload stopped by the delete`)
          assert.isFalse(fs.existsSync(podLayout(env.dataDir, n).run), `${n}: run dir removed`)
        }
        const after = (yield* store.recentEvents(500)).events.filter((e) => e.id > lastId)
        assert.isFalse(
          after.some((e) => e.type === "teardown-failed"),
          JSON.stringify(after.filter((e) => e.type === "teardown-failed"))
        )
        a2.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => exited(a2)), 0)
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
      }),
    { timeout: 150_000 }
  )
})
