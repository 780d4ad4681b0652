/**
 * e2e (root), issue 24 item 4: deleting a pod stops all of its containers at once, under one grace
 * period — not one after another. 64 containers whose PID 1 is a shell that catches SIGTERM and
 * carries on (so each needs the grace period and then SIGKILL) are gone in about one grace period.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as Agent from "../../src/agent/Agent.js"
import * as Api from "../../src/api/Api.js"
import { podLayout } from "../../src/runtime/layout.js"
import { Store } from "../../src/store/Store.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { alive, until, untilCatches } from "../support/poll.js"
import { tankEnv } from "../support/tankEnv.js"

const GRACE_MS = 3_000
const CONTAINERS = 64

describe("Pod deletion (live, root)", () => {
  it.scopedLive(
    `a pod of ${CONTAINERS} SIGTERM-ignoring containers is gone in about one grace period`,
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv({ stopGracePeriodMs: GRACE_MS })
        const scope = { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] }
        const before = yield* leakSnapshot(scope)
        const store = Context.get(
          yield* Layer.build(Agent.layer({
            config: { ...env.config, reconciler: { ...env.config.reconciler, resyncIntervalMs: 1_000 } }
          })),
          Store
        )
        const withStore = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, store)
        yield* withStore(Api.apply({
          name: "many",
          containers: Array.from({ length: CONTAINERS }, (_, i) => ({
            name: `c${i}`,
            image: env.refs.busybox,
            // Catches SIGTERM and carries on (a plain sleep as PID 1 would be SIGKILLed at once).
            command: ["sh", "-c", "trap : TERM; while true; do sleep 0.05; done"]
          }))
        }))
        const running = yield* until(
          "all running",
          store.getStatus("many").pipe(Effect.map(Option.getOrUndefined)),
          (s) => s?.phase === "running" && (s.containers ?? []).filter((c) => alive(c.hostPid)).length === CONTAINERS,
          120_000,
          250
        )
        const pids = running!.containers!.map((c) => c.hostPid!)
        for (const pid of pids) yield* untilCatches(pid)
        const t0 = Date.now()
        yield* withStore(Api.remove("many"))
        yield* until(
          "status removed",
          store.getStatus("many").pipe(Effect.map(Option.map((s) => s.phase))),
          Option.isNone,
          60_000
        )
        yield* until("every workload gone", Effect.sync(() => pids.filter(alive).length), (n) => n === 0, 60_000)
        const took = Date.now() - t0
        yield* Effect.logInfo(`deleting ${CONTAINERS} containers with a ${GRACE_MS} ms grace took ${took} ms`)
        assert.isAtLeast(took, GRACE_MS - 100, "each workload had its grace period")
        assert.isBelow(took, 2 * GRACE_MS, "one grace period for all, not one each")
        assert.isFalse(fs.existsSync(podLayout(env.dataDir, "many").run))
        yield* assertNoLeaks(before, scope)
      }),
    { timeout: 300_000 }
  )
})
