/**
 * e2e (root), issue 24 item 2, the fallbacks: a runtime that gets no reserved slot (no agent lock
 * names this process) and finds every slot of a pod's monitor held. Adoption retries, then adopts
 * the running pod without a connection (never kills it); its exit is still seen; a teardown stops
 * the workload by signals under the grace period and lets the monitor go, which removes its own
 * socket. Nothing is left behind.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Scope } from "effect"
import * as fs from "node:fs"
import { podLayout } from "../../src/runtime/layout.js"
import { readRecord, viewOf } from "../../src/runtime/record.js"
import { decodePod } from "../../src/spec/decode.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { fillSlots, monitorsOf } from "../support/monitorSlots.js"
import { alive, until } from "../support/poll.js"
import { liveRuntime } from "../support/tankEnv.js"

describe("Runtime with a busy monitor (live, root)", () => {
  it.scopedLive(
    "adopt keeps the running pod when no slot can be had; its exit is seen; teardown stops it by signals",
    () =>
      Effect.gen(function*() {
        // A long grace: the workload (a plain `sleep`, PID 1 without a SIGTERM handler) drops SIGTERM,
        // and the agent stopping it by signals sends the SIGKILL at once rather than waiting it out.
        const { env, inPod, runtime } = yield* liveRuntime({ stopGracePeriodMs: 60_000 })
        const scope = { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] }
        const before = yield* leakSnapshot(scope)
        const pod = yield* decodePod({
          name: "crowded",
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
        })
        // A first "agent" starts the pod and leaves it running (live restore).
        const first = yield* Scope.make()
        const h1 = yield* Scope.extend(runtime.start(pod), first)
        yield* h1.keepOnClose
        yield* Scope.close(first, Exit.void)
        const layout = podLayout(env.dataDir, "crowded")
        const record = viewOf(Option.getOrThrow(yield* readRecord("crowded", layout.record))).containers[0]!
        const held = yield* fillSlots(record.socketPath)
        assert.isAtLeast(held.count, 31)

        // Meanwhile an exec retries for 10 s too, then says the monitor is busy (not "not running").
        const exec = yield* Effect.fork(Effect.flip(inPod("crowded", "true")))
        // A second one adopts it: busy is retried (10 s), then the live monitor's pod is adopted anyway.
        const second = yield* Scope.make()
        const h2 = Option.getOrThrow(yield* Scope.extend(runtime.adopt(pod), second))
        const refused = yield* Fiber.join(exec)
        assert.strictEqual(refused._tag, "PodMonitorBusy")
        assert.strictEqual(
          refused.message,
          "monitor of pod crowded (container app) is busy: all 32 connection slots are taken; gave up retrying"
        )
        assert.strictEqual(h2.hostPid, h1.hostPid)
        assert.isTrue(alive(record.pid), "the workload was not killed")
        assert.deepStrictEqual(monitorsOf(layout.container("app").config), [record.monitorPid])
        // Its end is awaited (by reconnecting while the monitor lives), not made up.
        const waiting = yield* Effect.fork(h2.containers[0]!.wait)
        yield* Effect.sleep("1500 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(waiting)), "no exit while the workload runs")

        // Deleting it while every slot is still held: signals (10 s of busy retries first, no
        // grace period), then the monitor is let go and removes its own socket.
        const t0 = Date.now()
        yield* Scope.close(second, Exit.void)
        assert.isBelow(Date.now() - t0, 40_000, "the 60 s grace period was waited out")
        assert.isFalse(alive(record.pid))
        yield* until("monitor gone", Effect.sync(() => alive(record.monitorPid)), (a) => !a)
        assert.isFalse(fs.existsSync(record.socketPath))
        assert.isFalse(fs.existsSync(layout.run))
        assert.deepStrictEqual(yield* Fiber.join(waiting), { _tag: "Signaled", signal: 9 })
        held.release()
        yield* assertNoLeaks(before, scope)
      }),
    { timeout: 120_000 }
  )
})
