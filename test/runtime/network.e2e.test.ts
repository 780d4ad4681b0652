/**
 * Pod networking through the live Runtime (root), on a test LAN that exists only inside namespaces
 * this test creates (test/support/lan.ts): macvlan NICs on a veth parent in a hub namespace, a LAN
 * host at 10.250.0.1. Two pods reach each other and the LAN host (ping, HTTP from busybox httpd),
 * routes and resolv.conf are right in each mode, several NICs work, and nothing is left after.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import { podLayout } from "../../src/runtime/layout.js"
import { decodePod } from "../../src/spec/decode.js"
import { makeLan } from "../support/lan.js"
import { liveRuntime } from "../support/tankEnv.js"

describe("pod networking (live, root)", () => {
  it.scopedLive(
    "macvlan pods on a test LAN: ping, HTTP, gateway route, DNS, several NICs; nothing left after",
    () =>
      Effect.gen(function*() {
        const lan = yield* makeLan
        const { env, inPod, runtime } = yield* liveRuntime({
          host: { uplink: lan.parent, dns: ["10.250.0.53"] },
          parentNetns: lan.hub.path
        })
        const hubLinksBefore = yield* lan.linkNames(lan.hub)
        const scope = yield* Scope.make()
        const start = (spec: unknown) => Effect.flatMap(decodePod(spec), (p) => Scope.extend(runtime.start(p), scope))
        const web = yield* start({
          name: "net-web",
          network: {
            nics: [{ name: "eth0", address: "10.250.0.21/24", gateway: "10.250.0.1" }],
            dns: ["10.250.0.1"]
          },
          containers: [{ name: "app", image: env.refs.busyboxHttpd }]
        })
        assert.deepStrictEqual(web.addresses, ["10.250.0.21/24"])
        yield* start({
          name: "net-client",
          network: {
            nics: [
              { name: "eth0", parent: lan.parent, address: "10.250.0.22/24" },
              { name: "eth1", parent: lan.parent2, address: "10.251.0.22/24" }
            ]
          },
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
        })
        const links = yield* inPod("net-client", "ls /sys/class/net | sort | tr '\\n' ' '")
        assert.strictEqual(links.stdout.trim(), "eth0 eth1 lo")
        const ping = yield* inPod("net-client", "ping -c1 -W2 10.250.0.21 && ping -c1 -W2 10.250.0.1")
        assert.strictEqual(ping.exitCode, 0, ping.stdout + ping.stderr)
        // HTTP from the pod's httpd (the image serves /var/www on :8080) to the other pod and to the LAN host.
        const fromPod = yield* inPod(
          "net-client",
          "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 10.250.0.21 8080"
        )
        assert.include(fromPod.stdout, "200 OK")
        const fromLan = yield* lan.httpGet(lan.lanHost, "10.250.0.21", 8080, "/")
        assert.isString(fromLan)
        // The gateway route, DNS from the pod spec (net-web) and from the Host service (net-client).
        const route = yield* inPod("net-web", "ip route show default || route -n")
        assert.include(route.stdout, "10.250.0.1")
        assert.include((yield* inPod("net-web", "cat /etc/resolv.conf")).stdout, "nameserver 10.250.0.1")
        assert.include((yield* inPod("net-client", "cat /etc/resolv.conf")).stdout, "nameserver 10.250.0.53")
        assert.include((yield* inPod("net-web", "cat /etc/hosts")).stdout, "10.250.0.21\tnet-web")
        // No macvlan ever appears in the parents' namespace.
        assert.deepStrictEqual(yield* lan.linkNames(lan.hub), hubLinksBefore)
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(yield* lan.linkNames(lan.hub), hubLinksBefore)
        assert.isFalse(fs.existsSync(podLayout(env.dataDir, "net-web").run))
        const gone = yield* lan.busybox(lan.lanHost, ["ping", "-c1", "-W1", "10.250.0.21"])
        assert.notStrictEqual(gone.code, 0, "the pod's address is gone with the pod")
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "host network shares the host's resolv.conf; none has only lo; no uplink → NoUplink",
    () =>
      Effect.gen(function*() {
        const { env, inPod, runtime } = yield* liveRuntime()
        const scope = yield* Scope.make()
        const start = (spec: unknown) => Effect.flatMap(decodePod(spec), (p) => Scope.extend(runtime.start(p), scope))
        yield* start({
          name: "net-host",
          network: "host",
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
        })
        yield* start({
          name: "net-none",
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
        })
        const hostResolv = fs.readFileSync("/etc/resolv.conf", "utf8")
        assert.strictEqual((yield* inPod("net-host", "cat /etc/resolv.conf")).stdout, hostResolv)
        const hostNet = fs.readdirSync("/sys/class/net").sort().join(" ")
        assert.strictEqual((yield* inPod("net-host", "ls /sys/class/net | sort | tr '\\n' ' '")).stdout.trim(), hostNet)
        assert.strictEqual((yield* inPod("net-none", "ls /sys/class/net | tr '\\n' ' '")).stdout.trim(), "lo")
        // Up, and usable: the sandbox brought it up (the network step leaves a none pod alone).
        assert.match((yield* inPod("net-none", "ip -o link show lo")).stdout, /[<,]UP[,>]/)
        assert.strictEqual(
          (yield* inPod("net-none", "ping -c1 -W1 127.0.0.1 >/dev/null && echo ok")).stdout.trim(),
          "ok"
        )
        yield* Scope.close(scope, Exit.void)
        const err = yield* Effect.scoped(Effect.flip(Effect.flatMap(
          decodePod({
            name: "net-nouplink",
            network: { nics: [{ name: "eth0", address: "10.9.9.9/24" }] },
            containers: [{ name: "app", image: env.refs.busybox }]
          }),
          (p) => runtime.start(p)
        )))
        assert.strictEqual(err._tag, "SetupFailed")
        assert.strictEqual(err._tag === "SetupFailed" && err.step, "network")
        assert.include(err.message, "uplink")
        assert.isFalse(fs.existsSync(podLayout(env.dataDir, "net-nouplink").run))
      }),
    { timeout: 90_000 }
  )
})
