/**
 * httpGet and tcpSocket probes run by the real agent (root), from inside the pod's network
 * namespace: readiness over httpGet against the httpd fixture flips with the page; a tcpSocket
 * liveness probe restarts a container whose port closed; and (attack) a probe of a `network: none`
 * pod reaches the pod's own loopback server, never a server on the host's loopback at the same port.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as http from "node:http"
import * as Api from "../../src/api/Api.js"
import { readyColumn } from "../../src/cli/ps.js"
import { TankConfig } from "../../src/config/Config.js"
import { execCapture } from "../../src/exec/Exec.js"
import { Store } from "../../src/store/Store.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { alive, until } from "../support/poll.js"
import { quickAgentStore } from "../support/quickAgent.js"
import { tankEnv } from "../support/tankEnv.js"

const agent = Effect.gen(function*() {
  const env = yield* tankEnv()
  // Other suites may run Tank on this machine at the same time: only this data dir's processes count.
  const leakOpts = { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] }
  const before = yield* leakSnapshot(leakOpts)
  const store = yield* quickAgentStore(env)
  const status = (p: string) => store.getStatus(p).pipe(Effect.map(Option.getOrUndefined))
  const apply = (spec: unknown) => Api.apply(spec).pipe(Effect.provideService(Store, store))
  const events = (p: string) => Effect.map(store.recentEvents(1000), (r) => r.events.filter((e) => e.pod === p))
  const removeAll = (pods: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      for (const p of pods) yield* Api.remove(p).pipe(Effect.provideService(Store, store))
      yield* until("gone", Effect.all(pods.map(status)), (ss) => ss.every((s) => s === undefined))
      yield* assertNoLeaks(before, leakOpts)
    })
  return { env, store, status, apply, events, removeAll }
})

/** The fixture's httpd serving a copy of its page from /tmp/www on 127.0.0.1:`port` (or all addresses). */
const httpd = (port: number, bind = "") =>
  `mkdir -p /tmp/www && cp /var/www/index.html /tmp/www/ && exec httpd -f -p ${bind}${port} -h /tmp/www`

describe("network probes (live, root)", () => {
  it.scopedLive(
    "readiness over httpGet against the httpd fixture: ready, unready when the page disappears, ready when it is back",
    () =>
      Effect.gen(function*() {
        const { apply, env, events, removeAll, status, store } = yield* agent
        yield* apply({
          name: "webget",
          containers: [{
            name: "httpd",
            image: env.refs.busyboxHttpd,
            command: ["sh", "-c", httpd(8080)],
            readinessProbe: { httpGet: { path: "/index.html", port: 8080 }, periodSeconds: 1, failureThreshold: 2 }
          }]
        })
        const pod = yield* Api.get("webget").pipe(Effect.provideService(Store, store))
        const ready = Effect.map(status("webget"), (s) => s === undefined ? "-" : readyColumn(s, pod))
        yield* until("ready", ready, (r) => r === "1/1")
        const sh = (cmd: string) =>
          execCapture("webget", ["sh", "-c", cmd]).pipe(Effect.provide(Layer.succeed(TankConfig, env.config)))
        yield* sh("mv /tmp/www/index.html /tmp/www/gone.html")
        yield* until("unready", ready, (r) => r === "0/1", 10_000)
        yield* sh("mv /tmp/www/gone.html /tmp/www/index.html")
        yield* until("ready again", ready, (r) => r === "1/1", 10_000)
        assert.strictEqual((yield* status("webget"))!.restarts, 0)
        const evs = (yield* events("webget")).filter((e) => e.type === "ready" || e.type === "unready")
        assert.deepStrictEqual(evs.map((e) => e.type), ["ready", "unready", "ready"])
        assert.match(
          evs[1]!.message!,
          /^container httpd: readiness probe httpGet :8080\/index.html failed 2 times in a row \(HTTP\/1\.[01] 404 .* from http:\/\/127\.0\.0\.1:8080\/index\.html\)/
        )
        yield* removeAll(["webget"])
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "tcpSocket liveness: a container whose port closes is killed and restarted, the event says why",
    () =>
      Effect.gen(function*() {
        const { apply, env, events, removeAll, status } = yield* agent
        yield* apply({
          name: "tcplive",
          containers: [{
            name: "app",
            image: env.refs.busyboxHttpd,
            // Listens for 3 s after each start, then closes its port and hangs on.
            command: ["sh", "-c", "httpd -f -p 9090 -h /var/www & p=$!; sleep 3; kill $p; exec sleep 3600"],
            livenessProbe: { tcpSocket: { port: 9090 }, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 2 }
          }]
        })
        const first = yield* until("running", status("tcplive"), (s) => s?.phase === "running" && alive(s.hostPid))
        const pid1 = first!.hostPid!
        yield* Effect.sleep("2 seconds")
        assert.strictEqual((yield* status("tcplive"))!.restarts, 0, "healthy while the port is open")
        const again = yield* until(
          "restarted by the probe",
          status("tcplive"),
          (s) => s?.phase === "running" && (s.restarts ?? 0) >= 1 && s.hostPid !== pid1,
          20_000
        )
        assert.strictEqual(again!.lastExit?.signal, 9)
        const unhealthy = (yield* events("tcplive")).filter((e) => e.type === "unhealthy")
        assert.isAtLeast(unhealthy.length, 1)
        assert.strictEqual(unhealthy[0]!.hostPid, pid1)
        assert.match(
          unhealthy[0]!.message!,
          /^container app: liveness probe tcpSocket :9090 failed 2 times in a row \(127\.0\.0\.1:9090: ECONNREFUSED\)/
        )
        yield* removeAll(["tcplive"])
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "attack: a network-none pod's probes reach its own loopback, never a server on the host's loopback at the same port",
    () =>
      Effect.gen(function*() {
        const { apply, env, events, removeAll, status } = yield* agent
        // A host server that answers 200 to anything and counts what reaches it.
        let hostHits = 0
        const server = yield* Effect.acquireRelease(
          Effect.async<http.Server>((resume) => {
            const s = http.createServer((_req, res) => {
              hostHits++
              res.end("host")
            })
            s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
          }),
          (s) =>
            Effect.async<void>((resume) => {
              s.close(() => resume(Effect.void))
            })
        )
        const port = (server.address() as { port: number }).port
        const probe = { periodSeconds: 1, failureThreshold: 1 }
        yield* apply({
          name: "inside",
          containers: [{
            name: "httpd",
            image: env.refs.busyboxHttpd,
            command: ["sh", "-c", httpd(port, "127.0.0.1:")],
            // Only the pod's server has this page (the host's would answer 200 to it too).
            readinessProbe: { ...probe, httpGet: { path: "/index.html", port } }
          }]
        })
        yield* apply({
          name: "empty",
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: ["sleep", "3600"],
            // Nothing listens in this pod: reaching the host's server would make these pass.
            readinessProbe: { ...probe, httpGet: { path: "/", port, host: "127.0.0.1" } },
            livenessProbe: { ...probe, failureThreshold: 2, tcpSocket: { port } }
          }]
        })
        yield* until("inside ready", status("inside"), (s) => s?.ready === true)
        // The liveness probe ran in the pod's namespace, found nothing listening, and restarted it.
        yield* until("empty restarted by its tcpSocket probe", status("empty"), (s) => (s?.restarts ?? 0) >= 1, 20_000)
        const unhealthy = (yield* events("empty")).filter((e) => e.type === "unhealthy")
        assert.match(
          unhealthy[0]!.message!,
          new RegExp(`tcpSocket :${port} failed 2 times in a row \\(127\\.0\\.0\\.1:${port}: ECONNREFUSED\\)`)
        )
        assert.notStrictEqual((yield* status("empty"))!.ready, true)
        assert.isFalse((yield* events("empty")).some((e) => e.type === "ready"))
        assert.strictEqual(hostHits, 0, "no probe reached the host's loopback")
        yield* removeAll(["inside", "empty"])
      }),
    { timeout: 90_000 }
  )
})
