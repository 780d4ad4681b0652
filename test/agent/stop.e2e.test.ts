/**
 * Stopping pods, end to end (root): the real agent and runtime. A deleted pod reads "terminating"
 * from the moment of the delete until it is gone, with the deadline of its grace period; with
 * `init: true` a `sleep` (no SIGTERM handler, PID 1 without init) stops at once, and without init it
 * is SIGKILLed at once (the kernel drops a signal PID 1 has no handler for: waiting would change
 * nothing); a workload that catches SIGTERM and carries on gets its pod's own
 * `terminationGracePeriodSeconds`; its image's StopSignal is what stops it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Agent from "../../src/agent/Agent.js"
import * as Api from "../../src/api/Api.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { buildFixtures, makeImage, pushImage } from "../support/fixtureImages.js"
import { alive, until, untilCatches } from "../support/poll.js"
import { type TankEnv, tankEnv } from "../support/tankEnv.js"

const fast = { backoffBaseMs: 300, backoffCapMs: 2_000, stableWindowMs: 60_000, resyncIntervalMs: 1_000 }

/** The agent with a 10 s default grace period (the default of a real agent). */
const agentIn = (env: TankEnv) =>
  Layer.build(Agent.layer({
    config: { ...env.config, reconciler: { ...env.config.reconciler, ...fast, stopGracePeriodMs: 10_000 } }
  })).pipe(Effect.map((ctx) => Context.get(ctx, Store)))

const sleeper = (env: TankEnv, name: string, extra: object = {}, command = ["sleep", "600"]) => ({
  name,
  containers: [{ name: "app", image: env.refs.busybox, command }],
  ...extra
})

const running = (s: PodStatus | undefined) => s?.phase === "running" && alive(s.hostPid)

/**
 * An image whose StopSignal is SIGUSR1, pushed beside the fixtures: its command exits 0 on SIGUSR1
 * only (SIGTERM would not stop it: it is PID 1 without a handler for it).
 */
const pushStopSignalImage = (env: TankEnv) =>
  Effect.promise(async () => {
    const f = await buildFixtures()
    const config = JSON.parse(f.busybox.oci.config.bytes.toString()) as { rootfs: { diff_ids: Array<string> } }
    const layers = f.busybox.oci.layers.map((gz, i) => ({ gz, diffId: config.rootfs.diff_ids[i]! }))
    const img = makeImage("oci", layers, {
      Env: ["PATH=/bin"],
      Cmd: ["sh", "-c", "trap 'echo got-usr1; exit 0' USR1; while true; do sleep 0.1; done"],
      StopSignal: "SIGUSR1"
    })
    const host = env.refs.busybox.split("/")[0]!
    await pushImage({ url: `http://${host}` }, "tank/stopsignal", "latest", img)
    return `${host}/tank/stopsignal:latest`
  })

describe("stopping pods (live, root)", () => {
  it.scopedLive(
    "terminating until gone; sleep stops at once with or without init; a pod's grace period; the image's StopSignal",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const store = yield* agentIn(env)
        const api = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, store)
        const statusOf = (name: string) =>
          api(Api.statusAll).pipe(Effect.map((all) => all.find((s) => s.name === name)))
        const stopsig = yield* pushStopSignalImage(env)
        yield* api(Api.applyAll([
          sleeper(env, "quick", { init: true }),
          // Catches SIGTERM and carries on: only the SIGKILL at the end of the grace period stops it.
          sleeper(env, "slow", { terminationGracePeriodSeconds: 2 }, [
            "sh",
            "-c",
            "trap : TERM; while true; do sleep 0.05; done"
          ]),
          sleeper(env, "bare", { terminationGracePeriodSeconds: 30 }),
          { name: "usr1", containers: [{ name: "app", image: stopsig }], terminationGracePeriodSeconds: 30 }
        ]))
        const pids = new Map<string, number>()
        const all = ["quick", "slow", "bare", "usr1"]
        for (const n of all) {
          const s = yield* until(`${n} running`, statusOf(n), running, 30_000)
          pids.set(n, s!.hostPid!)
        }
        yield* untilCatches(pids.get("slow")!)

        // Delete all at once: each reads terminating at once (before any agent acted).
        const t0 = Date.now()
        yield* Effect.forEach(all, (n) => api(Api.remove(n)), { discard: true })
        const seen = yield* api(Api.statusAll)
        for (const n of all) {
          const s = seen.find((x) => x.name === n)
          // Gone already is fine for the sleeps only (they stop in milliseconds).
          if (s === undefined && (n === "quick" || n === "bare")) continue
          assert.strictEqual(s?.phase, "terminating", `${n}: ${JSON.stringify(s)}`)
        }

        // init: true: sleep got SIGTERM through tank-init and the pod is gone well within a second.
        yield* until("quick gone", statusOf("quick"), (s) => s === undefined, 5_000)
        const quickMs = Date.now() - t0
        assert.isBelow(quickMs, 1_000, `init pod took ${quickMs} ms to go`)
        assert.isFalse(alive(pids.get("quick")))

        // Without init, sleep as PID 1 never sees SIGTERM: SIGKILLed at once, not after its 30 s.
        yield* until("bare gone", statusOf("bare"), (s) => s === undefined, 15_000)
        const bareMs = Date.now() - t0
        assert.isBelow(bareMs, 15_000, `sleep without init took ${bareMs} ms to go`)
        assert.isFalse(alive(pids.get("bare")))

        // The pod that catches SIGTERM: terminating with its own 2 s deadline (not the agent's 10 s) until
        // SIGKILL ends it; `tank status` shows the deadline.
        const slow = yield* until("slow has its deadline", statusOf("slow"), (s) => s?.graceDeadline !== undefined)
        assert.strictEqual(slow!.phase, "terminating")
        const deadline = Date.parse(slow!.graceDeadline!)
        assert.isAtLeast(deadline - t0, 1_500)
        assert.isAtMost(deadline - t0, 3_500)
        assert.isTrue(alive(pids.get("slow")), "still running within its grace period")
        yield* until("slow gone", statusOf("slow"), (s) => s === undefined, 10_000)
        const slowMs = Date.now() - t0
        assert.isAtLeast(slowMs, 1_900, "stopped only by the SIGKILL after its grace period")
        assert.isBelow(slowMs, 6_000)
        yield* Effect.logInfo(
          `deleted → gone: init pod ${quickMs} ms, sleep without init ${bareMs} ms, SIGTERM caught (grace 2 s) ${slowMs} ms`
        )
        const events = (yield* store.recentEvents(200)).events.filter((e) => e.pod === "slow")
        assert.match(
          events.find((e) => e.type === "terminating")?.message ?? "",
          /^deleted: stopping \(grace period 2 s, killed at \S+ if still running\)$/
        )

        // StopSignal SIGUSR1: the workload's trap ran and it exited by itself, long before its 30 s.
        yield* until("usr1 gone", statusOf("usr1"), (s) => s === undefined, 10_000)
        assert.isBelow(Date.now() - t0, 8_000)
        const stopped = (yield* store.recentEvents(200)).events.find((e) => e.pod === "usr1" && e.type === "stopped")
        assert.isDefined(stopped)
      }),
    { timeout: 90_000 }
  )
})
