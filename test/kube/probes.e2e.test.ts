/**
 * Liveness probes run by the real agent (root): the Kubernetes docs' exec-liveness example (its
 * manifest, image rewritten to the test registry's busybox, timings shortened 5×: the file lives
 * 6 s, probed every second after 1 s) restarts its container and records why; in a pod with two
 * containers only the probed one restarts. A readiness probe against the httpd fixture flips `ready`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Either, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as YAML from "yaml"
import * as Agent from "../../src/agent/Agent.js"
import * as Api from "../../src/api/Api.js"
import { readyColumn } from "../../src/cli/ps.js"
import { TankConfig } from "../../src/config/Config.js"
import { execCapture } from "../../src/exec/Exec.js"
import { decodeDocument, toTankDocuments } from "../../src/kube/documents.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { alive, until } from "../support/poll.js"
import { quickAgentStore } from "../support/quickAgent.js"
import { tankEnv } from "../support/tankEnv.js"

const container = (s: PodStatus | undefined, name: string) => s?.containers?.find((c) => c.name === name)

describe("probes (live, root)", () => {
  it.scopedLive(
    "exec-liveness from the docs: healthy, then the probe fails 3 times, the container is killed and restarted, the event says why",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir] })
        const store = yield* quickAgentStore(env)
        const m = YAML.parse(fs.readFileSync(path.join(import.meta.dirname, "fixtures", "exec-liveness.yaml"), "utf8"))
        const c = m.spec.containers[0]
        c.image = env.refs.busybox
        c.args = ["/bin/sh", "-c", "touch /tmp/healthy; sleep 6; rm -f /tmp/healthy; sleep 600"]
        c.livenessProbe.initialDelaySeconds = 1
        c.livenessProbe.periodSeconds = 1
        m.metadata.annotations = { "tank/extra": JSON.stringify({ network: "none" }) }
        const [doc] = toTankDocuments([{ spec: m, where: "exec-liveness.yaml" }])
        const pod = Either.getOrThrow(decodeDocument(doc!))
        const t0 = Date.now()
        yield* Api.apply(pod).pipe(Effect.provideService(Store, store))
        const status = store.getStatus("liveness-exec").pipe(Effect.map(Option.getOrUndefined))
        const first = yield* until("running", status, (s) => s?.phase === "running" && alive(s.hostPid))
        const pid1 = first!.hostPid!
        // Healthy while the file exists: no restart in the first 5 s.
        yield* Effect.sleep("5 seconds")
        assert.strictEqual((yield* status)!.restarts, 0)
        assert.strictEqual((yield* status)!.hostPid, pid1)
        const again = yield* until(
          "restarted by the probe",
          status,
          (s) => s?.phase === "running" && s.restarts === 1 && s.hostPid !== pid1 && alive(s.hostPid),
          20_000
        )
        const took = (Date.now() - t0) / 1000
        // File gone at ~6 s, failures at ~7, 8, 9 s (the docs: gone at 30 s, restarted at 35-50 s).
        assert.isAtLeast(took, 8)
        assert.isAtMost(took, 16)
        assert.strictEqual(again!.lastExit?.signal, 9)
        const events = (yield* store.recentEvents(1000)).events.filter((e) => e.pod === "liveness-exec")
        const unhealthy = events.filter((e) => e.type === "unhealthy")
        assert.strictEqual(unhealthy.length, 1)
        assert.match(
          unhealthy[0]!.message!,
          /^container liveness: liveness probe exec \[cat \/tmp\/healthy\] failed 3 times in a row \(exit 1: cat: can't open '\/tmp\/healthy'/
        )
        assert.strictEqual(unhealthy[0]!.hostPid, pid1)
        yield* Api.remove("liveness-exec").pipe(Effect.provideService(Store, store))
        yield* until("gone", status, (s) => s === undefined)
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir] })
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "two containers: the probed sidecar is restarted alone, and probed again after its restart",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir] })
        const store = yield* quickAgentStore(env)
        yield* Api.apply({
          name: "probed",
          containers: [
            { name: "main", image: env.refs.busybox, command: ["sleep", "3600"] },
            {
              name: "side",
              image: env.refs.busybox,
              // Healthy for 2 s after each start.
              command: ["sh", "-c", "touch /tmp/ok; sleep 2; rm /tmp/ok; exec sleep 3600"],
              livenessProbe: {
                exec: { command: ["test", "-e", "/tmp/ok"] },
                periodSeconds: 1,
                failureThreshold: 2,
                // A slow exec on a loaded machine is not what this test is about.
                timeoutSeconds: 5
              }
            }
          ]
        }).pipe(Effect.provideService(Store, store))
        const status = store.getStatus("probed").pipe(Effect.map(Option.getOrUndefined))
        const s1 = yield* until("running", status, (s) =>
          container(s, "side")?.state === "running" && container(s, "main")?.state === "running")
        const main = container(s1, "main")!.hostPid!
        const s2 = yield* until("side restarted twice", status, (s) =>
          (container(s, "side")?.restarts ?? 0) >= 2, 30_000)
        assert.strictEqual(container(s2, "main")!.hostPid, main)
        assert.strictEqual(container(s2, "main")!.restarts, 0)
        const events = (yield* store.recentEvents(1000)).events.filter((e) =>
          e.pod === "probed" && e.type === "unhealthy"
        )
        assert.isAtLeast(events.length, 2)
        assert.isTrue(events.every((e) =>
          e.container === "side"
        ))
        yield* Api.remove("probed").pipe(Effect.provideService(Store, store))
        yield* until("gone", status, (s) => s === undefined)
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir] })
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "readiness against the httpd fixture: ready once the page is served, unready when it disappears, ready again when it is back",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir] })
        const store = Context.get(yield* Layer.build(Agent.layer({ config: env.config })), Store)
        const spec = {
          name: "web",
          containers: [{
            name: "httpd",
            image: env.refs.busyboxHttpd,
            // The fixture's httpd, serving a copy of its page where the image's user may move it.
            command: [
              "sh",
              "-c",
              "mkdir -p /tmp/www && cp /var/www/index.html /tmp/www/ && exec httpd -f -p 8080 -h /tmp/www"
            ],
            readinessProbe: {
              exec: { command: ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"] },
              periodSeconds: 1,
              failureThreshold: 2,
              // A slow exec on a loaded machine is not what this test is about.
              timeoutSeconds: 5
            }
          }]
        }
        yield* Api.apply(spec).pipe(Effect.provideService(Store, store))
        const pod = yield* Api.get("web").pipe(Effect.provideService(Store, store))
        const status = store.getStatus("web").pipe(Effect.map(Option.getOrUndefined))
        const ready = Effect.map(status, (s) => s === undefined ? "-" : readyColumn(s, pod))
        const s1 = yield* until("ready", status, (s) => s?.phase === "running" && s.ready === true)
        assert.strictEqual(readyColumn(s1!, pod), "1/1")
        const sh = (cmd: string) =>
          execCapture("web", ["sh", "-c", cmd]).pipe(Effect.provide(Layer.succeed(TankConfig, env.config)))
        yield* sh("mv /tmp/www/index.html /tmp/www/gone.html")
        yield* until("unready", ready, (r) => r === "0/1", 10_000)
        // tank status / Tank.status: not ready, and why (the probe and what it printed).
        const shown = yield* Api.status("web").pipe(Effect.provideService(Store, store))
        assert.strictEqual(shown.ready, false)
        assert.match(shown.readyReason ?? "", /^readiness probe exec \[wget .*\] failed \(exit 1: .*404/)
        yield* sh("mv /tmp/www/gone.html /tmp/www/index.html")
        yield* until("ready again", ready, (r) => r === "1/1", 10_000)
        const s2 = yield* status
        assert.strictEqual(s2!.restarts, 0, "readiness never restarts anything")
        const back = yield* Api.status("web").pipe(Effect.provideService(Store, store))
        assert.deepStrictEqual([back.ready, back.readyReason], [true, undefined])
        const events = (yield* store.recentEvents(1000)).events.filter((e) => e.pod === "web")
        assert.deepStrictEqual(events.filter((e) => e.type === "ready" || e.type === "unready").map((e) => e.type), [
          "ready",
          "unready",
          "ready"
        ])
        assert.match(
          events.find((e) => e.type === "unready")!.message!,
          /^container httpd: readiness probe exec \[wget .*\] failed 2 times in a row \(exit 1: .*404/
        )
        yield* Api.remove("web").pipe(Effect.provideService(Store, store))
        yield* until("gone", status, (s) => s === undefined)
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir] })
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "startup: a slow starter's liveness probe waits for it; a startup probe that never passes kills and restarts its container",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir] })
        const store = yield* quickAgentStore(env)
        const started = { exec: { command: ["test", "-e", "/tmp/started"] }, periodSeconds: 1, timeoutSeconds: 5 }
        const apply = (spec: unknown) => Api.apply(spec).pipe(Effect.provideService(Store, store))
        yield* apply({
          name: "slow",
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: ["sh", "-c", "sleep 4; touch /tmp/started; exec sleep 3600"],
            // Without the startup probe this would kill the container in its first second.
            livenessProbe: { ...started, failureThreshold: 1 },
            startupProbe: { ...started, failureThreshold: 30 }
          }]
        })
        yield* apply({
          name: "stuck",
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: ["sleep", "3600"],
            startupProbe: { ...started, failureThreshold: 2 }
          }]
        })
        const status = (p: string) => store.getStatus(p).pipe(Effect.map(Option.getOrUndefined))
        yield* until("stuck restarted", status("stuck"), (s) => (s?.restarts ?? 0) >= 1, 30_000)
        const slow = yield* until("slow running", status("slow"), (s) => s?.phase === "running")
        yield* Effect.sleep("7 seconds")
        const after = yield* status("slow")
        assert.strictEqual(after!.restarts, 0)
        assert.strictEqual(after!.hostPid, slow!.hostPid)
        const events = (yield* store.recentEvents(1000)).events.filter((e) => e.type === "unhealthy")
        assert.isFalse(events.some((e) => e.pod === "slow"))
        assert.match(
          events.find((e) => e.pod === "stuck")!.message!,
          /^container app: startup probe exec \[test -e \/tmp\/started\] failed 2 times in a row \(exit 1\)/
        )
        for (const p of ["slow", "stuck"]) yield* Api.remove(p).pipe(Effect.provideService(Store, store))
        yield* until("gone", Effect.all([status("slow"), status("stuck")]), (ss) => ss.every((s) => s === undefined))
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir] })
      }),
    { timeout: 90_000 }
  )
})
