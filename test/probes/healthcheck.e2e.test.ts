/**
 * The image HEALTHCHECK run by the real agent (root): an image whose config carries docker's
 * `Healthcheck` (CMD-SHELL `cat /tmp/ok`, every second, 2 retries), pushed to the test registry.
 * Without a probe in the spec the container reads `health: healthy` while the check passes and
 * `unhealthy` after 2 failures in a row once the file is gone, with `health` events, and is NOT
 * restarted (as docker); with `healthcheck: restart` the same failure restarts it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as Api from "../../src/api/Api.js"
import { TankConfig } from "../../src/config/Config.js"
import { execCapture } from "../../src/exec/Exec.js"
import { Store } from "../../src/store/Store.js"
import { buildFixtures, makeImage, pushImage } from "../support/fixtureImages.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { alive, until } from "../support/poll.js"
import { quickAgentStore } from "../support/quickAgent.js"
import { tankEnv } from "../support/tankEnv.js"

const S = 1_000_000_000

/** The fixture busybox with a HEALTHCHECK, pushed next to it; its reference. */
const pushHealthImage = (busyboxRef: string) =>
  Effect.promise(async () => {
    const f = await buildFixtures()
    const base = f.busybox.oci
    const diffId = JSON.parse(base.config.bytes.toString()).rootfs.diff_ids[0] as string
    const img = makeImage("docker", [{ gz: base.layers[0]!, diffId }], {
      Env: ["PATH=/bin:/usr/bin:/sbin"],
      Cmd: ["sh", "-c", "touch /tmp/ok; exec sleep 600"],
      // Timeout generous: a slow exec on a loaded machine is not what this test is about.
      Healthcheck: { Test: ["CMD-SHELL", "cat /tmp/ok"], Interval: 1 * S, Timeout: 5 * S, Retries: 2 }
    })
    const host = busyboxRef.split("/")[0]!
    await pushImage({ url: `http://${host}` }, "tank/busybox-health", "latest", img)
    return `${host}/tank/busybox-health:latest`
  })

describe("image HEALTHCHECK (live, root)", () => {
  it.scopedLive(
    "healthy while the check passes, unhealthy after Retries failures, never restarted; restarted with healthcheck: restart",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir] })
        const ref = yield* pushHealthImage(env.refs.busybox)
        const store = yield* quickAgentStore(env)
        const withStore = <A, E>(e: Effect.Effect<A, E, Store>) => Effect.provideService(e, Store, store)
        yield* withStore(Api.apply({ name: "hc", containers: [{ name: "app", image: ref }] }))
        yield* withStore(Api.apply({
          name: "hcr",
          containers: [{
            name: "app",
            image: ref,
            // Healthy for 2 s after each start, then the check fails.
            command: ["sh", "-c", "touch /tmp/ok; sleep 2; rm /tmp/ok; exec sleep 600"],
            healthcheck: "restart"
          }]
        }))
        const status = (name: string) =>
          withStore(Api.status(name)).pipe(Effect.option, Effect.map(Option.getOrUndefined))
        const s1 = yield* until(
          "healthy",
          status("hc"),
          (s) => s?.phase === "running" && s.health?.status === "healthy"
        )
        const pid = s1!.hostPid!
        assert.strictEqual(s1!.health!.failingStreak, 0)
        yield* execCapture("hc", ["rm", "/tmp/ok"]).pipe(Effect.provide(Layer.succeed(TankConfig, env.config)))
        const s2 = yield* until("unhealthy", status("hc"), (s) => s?.health?.status === "unhealthy", 15_000)
        assert.isAtLeast(s2!.health!.failingStreak, 2)
        assert.match(s2!.health!.output ?? "", /^exit 1: cat: can't open '\/tmp\/ok'/)
        // As docker: shown, not acted on. Still the same process two checks later.
        yield* Effect.sleep("2500 millis")
        const s3 = (yield* status("hc"))!
        assert.deepStrictEqual([s3.phase, s3.restarts, s3.hostPid, alive(pid)], ["running", 0, pid, true])
        assert.strictEqual(s3.health?.status, "unhealthy")
        const events = (yield* store.recentEvents(1000)).events
        const health = events.filter((e) => e.pod === "hc" && e.type === "health").map((e) => e.message)
        assert.strictEqual(health.length, 2, JSON.stringify(health))
        assert.match(health[0]!, /^container app: image HEALTHCHECK \[CMD-SHELL cat \/tmp\/ok\]: healthy \(exit 0/)
        assert.match(health[1]!, /: unhealthy after 2 failures in a row \(exit 1: cat: can't open/)
        assert.isFalse(events.some((e) => e.pod === "hc" && e.type === "unhealthy"))
        // healthcheck: restart: the same failure kills it, to restart under the restart policy.
        const r = yield* until("hcr restarted", status("hcr"), (s) => s?.phase === "running" && s.restarts >= 1, 30_000)
        assert.strictEqual(r!.lastExit?.signal, 9)
        const killed = (yield* store.recentEvents(1000)).events.filter((e) => e.pod === "hcr" && e.type === "unhealthy")
        assert.match(killed[0]!.message!, /image HEALTHCHECK \[CMD-SHELL cat \/tmp\/ok\] failed 2 times in a row/)
        for (const name of ["hc", "hcr"]) yield* withStore(Api.remove(name))
        for (const name of ["hc", "hcr"]) yield* until("gone", status(name), (s) => s === undefined)
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir] })
      }),
    { timeout: 90_000 }
  )
})
