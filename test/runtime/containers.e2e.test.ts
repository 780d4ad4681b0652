/**
 * Containers of one pod restart alone (root, real monitors): the agent restarts a killed sidecar
 * with its own backoff while the main container keeps its process; restartContainer gives a fresh
 * writable layer in the same sandbox; every container of a macvlan pod sees the pod's address.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Layer, Option, Scope, Stream } from "effect"
import * as fs from "node:fs"
import * as Agent from "../../src/agent/Agent.js"
import * as Api from "../../src/api/Api.js"
import { TankConfig } from "../../src/config/Config.js"
import { execCapture } from "../../src/exec/Exec.js"
import { logsIn } from "../../src/observe/logs.js"
import { podLayout } from "../../src/runtime/layout.js"
import { readRecord, viewOf } from "../../src/runtime/record.js"
import { decodePod } from "../../src/spec/decode.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { makeLan } from "../support/lan.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { alive, until } from "../support/poll.js"
import { liveRuntime, tankEnv } from "../support/tankEnv.js"

const container = (s: PodStatus | undefined, name: string) => s?.containers?.find((c) => c.name === name)

describe("per-container restarts (live, root)", () => {
  it.scopedLive(
    "agent: killing the sidecar restarts only it (own backoff); the web container keeps its pid; logs and exec per container; delete leaves nothing",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir] })
        const store = Context.get(
          yield* Layer.build(Agent.layer({
            config: {
              ...env.config,
              reconciler: { ...env.config.reconciler, backoffBaseMs: 300, backoffCapMs: 2_000, resyncIntervalMs: 1_000 }
            }
          })),
          Store
        )
        const status = store.getStatus("duo").pipe(Effect.map(Option.getOrUndefined))
        yield* Api.apply({
          name: "duo",
          volumes: [{ name: "www" }],
          containers: [
            {
              name: "web",
              image: env.refs.busybox,
              command: ["httpd", "-f", "-p", "8080", "-h", "/www"],
              mounts: [{ volume: "www", path: "/www" }]
            },
            {
              name: "side",
              image: env.refs.busybox,
              command: ["sh", "-c", "echo side up; echo written-by-side > /www/index.html; exec sleep 3600"],
              mounts: [{ volume: "www", path: "/www" }]
            }
          ]
        }).pipe(Effect.provideService(Store, store))
        const s1 = yield* until("both running", status, (s) =>
          s?.phase === "running" && (s.containers ?? []).every((c) =>
            c.state === "running" && alive(c.hostPid)
          ))
        const web1 = container(s1, "web")!.hostPid!
        const side1 = container(s1, "side")!.hostPid!
        const configLayer = Layer.succeed(TankConfig, env.config)
        const inPod = (cmd: string, c: string) =>
          execCapture("duo", ["sh", "-c", cmd], { container: c }).pipe(Effect.provide(configLayer))
        // The sidecar fetches what it wrote (shared volume) from the web container on localhost.
        const fetched = yield* until(
          "served",
          inPod("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 8080", "side"),
          (r) => r.stdout.includes("written-by-side")
        )
        assert.include(fetched.stdout, "200 OK")
        // A file in the sidecar's own writable layer: a restarted container starts without it.
        yield* inPod("touch /scratch-file", "side")

        process.kill(side1, "SIGKILL")
        const s2 = yield* until("side restarted", status, (s) => {
          const side = container(s, "side")
          return side?.state === "running" && side.hostPid !== side1 && alive(side.hostPid)
        })
        assert.strictEqual(container(s2, "side")!.restarts, 1)
        assert.strictEqual(container(s2, "side")!.lastExit?.signal, 9)
        assert.strictEqual(container(s2, "web")!.hostPid, web1, "the web container was not restarted")
        assert.strictEqual(container(s2, "web")!.restarts, 0)
        assert.isTrue(alive(web1))
        assert.strictEqual(s2!.restarts, 1)
        assert.strictEqual(s2!.hostPid, web1)
        // exec reaches the new incarnation: fresh writable layer, same volume, same sandbox.
        assert.strictEqual(
          (yield* inPod("test -e /scratch-file && echo kept || echo fresh", "side")).stdout.trim(),
          "fresh"
        )
        assert.strictEqual((yield* inPod("cat /www/index.html", "side")).stdout.trim(), "written-by-side")
        assert.strictEqual((yield* inPod("hostname", "side")).stdout.trim(), "duo")
        const record = viewOf(
          Option.getOrThrow(yield* readRecord("duo", podLayout(env.dataDir, "duo").record))
        )
        assert.strictEqual(record.containers.find((c) => c.name === "side")!.pid, container(s2, "side")!.hostPid)
        // Per-container logs: the sidecar's log has both incarnations' lines, the web's has none of them.
        const sideLog = yield* Stream.runCollect(logsIn(env.dataDir, "duo", { container: "side" }))
        assert.deepStrictEqual(Chunk.toArray(sideLog).map((e) => e.text), ["side up", "side up"])
        const webLog = yield* Stream.runCollect(logsIn(env.dataDir, "duo", { container: "web" }))
        assert.isFalse(Chunk.toArray(webLog).some((e) => e.text === "side up"))
        // Events name the container.
        const events = (yield* store.recentEvents(1000)).events.filter((e) => e.pod === "duo" && e.container === "side")
        assert.deepStrictEqual(events.map((e) => e.type), ["exited", "backing-off", "running"])

        // Its own backoff: a second kill right away waits twice as long (600 ms vs 300 ms).
        const side2 = container(s2, "side")!.hostPid!
        process.kill(side2, "SIGKILL")
        const s3 = yield* until("side backing off again", status, (s) => container(s, "side")?.restarts === 2)
        assert.include(container(s3, "side")!.reason ?? "", "restarting in 600 ms")
        yield* until("side back again", status, (s) => container(s, "side")?.state === "running")
        assert.isTrue(alive(web1))

        yield* Api.remove("duo").pipe(Effect.provideService(Store, store))
        yield* until("gone", status, (s) => s === undefined)
        yield* until("processes gone", Effect.sync(() => alive(web1)), (a) => !a)
        assert.isFalse(fs.existsSync(podLayout(env.dataDir, "duo").run))
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir] })
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "every container of a macvlan pod sees the pod's address; the LAN reaches the web container",
    () =>
      Effect.gen(function*() {
        const lan = yield* makeLan
        const { env, inPod, runtime } = yield* liveRuntime({
          host: { uplink: lan.parent, dns: ["10.250.0.53"] },
          parentNetns: lan.hub.path
        })
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
        const scope = yield* Scope.make()
        const pod = yield* decodePod({
          name: "landuo",
          network: { nics: [{ name: "eth0", address: "10.250.0.31/24", gateway: "10.250.0.1" }] },
          containers: [
            { name: "web", image: env.refs.busyboxHttpd },
            { name: "side", image: env.refs.busybox, command: ["sleep", "3600"] }
          ]
        })
        const h = yield* Scope.extend(runtime.start(pod), scope)
        assert.deepStrictEqual(h.containers.map((c) => c.name), ["web", "side"])
        for (const c of ["web", "side"]) {
          const addr = yield* inPod("landuo", "ip -4 -o addr show eth0", c)
          assert.include(addr.stdout, "10.250.0.31/24", `${c} sees the pod's address`)
        }
        const fromLan = yield* lan.httpGet(lan.lanHost, "10.250.0.31", 8080, "/")
        assert.isString(fromLan)
        // The sidecar reaches the LAN through the pod's NIC too.
        assert.strictEqual((yield* inPod("landuo", "ping -c1 -W2 10.250.0.1", "side")).exitCode, 0)

        // Runtime level: a container that ended restarts in the same sandbox, the other untouched.
        const side = h.containers[1]!
        process.kill(side.hostPid, "SIGKILL")
        const exit = yield* side.wait
        assert.deepStrictEqual(exit, { _tag: "Signaled", signal: 9 })
        const again = yield* h.restartContainer("side")
        assert.notStrictEqual(again.hostPid, side.hostPid)
        assert.isTrue(alive(again.hostPid))
        assert.isTrue(alive(h.containers[0]!.hostPid))
        assert.include((yield* inPod("landuo", "ip -4 -o addr show eth0", "side")).stdout, "10.250.0.31/24")
        yield* Scope.close(scope, Exit.void)
        assert.isFalse(alive(again.hostPid))
        yield* runtime.purge("landuo")
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
      }),
    { timeout: 60_000 }
  )
})
