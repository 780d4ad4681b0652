/**
 * Address pools, pod DNS names and the host shim through the real agent (root), on a test LAN that
 * exists only in namespaces this test creates (test/support/lan.ts); the agent's network plumbing
 * (shim, DNS service) lives in the hub namespace, which plays the host. An upstream DNS server
 * (dnsmasq) runs in the hub on 127.0.0.2.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import * as Api from "../../src/api/Api.js"
import { Allocations } from "../../src/store/Allocations.js"
import { layerSqlite as allocationsSqlite } from "../../src/store/allocationsSql.js"
import { Store as storeTag } from "../../src/store/Store.js"
import { makeLan, run, runOk } from "../support/lan.js"
import { until } from "../support/poll.js"
import { tankEnv } from "../support/tankEnv.js"
import { dnsmasq, inPod, netConfig, startAgent, status, waitRunning } from "./support.js"

const ipOf = (s: { readonly addresses?: ReadonlyArray<string> | undefined } | undefined) =>
  s?.addresses?.[0]?.split("/")[0]

describe("address pools, pod DNS, host shim (live, root)", () => {
  it.scopedLive(
    "pool addresses: distinct, probed, sticky across restarts and agent restarts, freed on delete; DNS by name, " +
      "reverse and forwarded; the host reaches its pods through the shim",
    () =>
      Effect.gen(function*() {
        const lan = yield* makeLan
        const env = yield* tankEnv()
        const logs: Array<string> = []
        yield* runOk("ip", ["-n", lan.hub.name, "link", "set", "lo", "up"])
        yield* dnsmasq(lan.hub, "127.0.0.2", { "outside.test": "10.9.8.7" }, env.dataDir)
        // The LAN host holds the first address of the range: the probe must find it and skip it.
        yield* runOk("ip", ["-n", lan.lanHost.name, "addr", "add", "10.250.0.100/24", "dev", "eth0"])
        const config = netConfig(env, lan, {
          pools: [{
            name: "lan",
            subnet: "10.250.0.0/24",
            gateway: "10.250.0.1",
            range: "10.250.0.100-10.250.0.120",
            shim: { name: "tank0", address: "10.250.0.99" }
          }],
          dns: { upstream: ["127.0.0.2"] },
          probeMs: 300
        })
        const agent1 = yield* startAgent(config, lan, logs)
        const pod = (name: string, image: string, extra: object = {}) => ({
          name,
          network: { nics: [{ name: "eth0", address: { pool: "lan" } }] },
          containers: [{ name: "app", image, ...extra }]
        })
        const apply = (store: typeof agent1.store, spec: unknown) =>
          Api.apply(spec).pipe(Effect.provideService(storeTag, store))
        yield* apply(agent1.store, pod("a", env.refs.busybox, { command: ["sleep", "3600"] }))
        const sa = yield* waitRunning(agent1.store, "a")
        yield* apply(agent1.store, pod("b", env.refs.busyboxHttpd))
        const sb = yield* waitRunning(agent1.store, "b")
        const a = ipOf(sa)!, b = ipOf(sb)!
        assert.notStrictEqual(a, b)
        assert.notInclude([a, b], "10.250.0.100", "the address the LAN host holds is never used")
        assert.match(a, /^10\.250\.0\.1(0[1-9]|1[0-9]|20)$/)
        assert.isTrue(
          logs.some((l) => l.includes("10.250.0.100") && /held by [0-9a-f:]{17}/.test(l)),
          `the refusal names the address and its holder: ${logs.join("\n")}`
        )
        // DNS: by name (and reachable by name), reverse, forwarded; resolv.conf points at the shim.
        assert.strictEqual((yield* inPod(config, "a", "cat /etc/resolv.conf")).stdout, "nameserver 10.250.0.99\n")
        const byName = yield* inPod(config, "a", "nslookup b.tank.internal")
        assert.include(byName.stdout, b, byName.stdout + byName.stderr)
        const ping = yield* inPod(config, "a", "ping -c1 -W2 b.tank.internal")
        assert.strictEqual(ping.exitCode, 0, ping.stdout + ping.stderr)
        const reverse = yield* inPod(config, "a", `nslookup ${b}`)
        assert.include(reverse.stdout, "b.tank.internal", reverse.stdout + reverse.stderr)
        const forwarded = yield* inPod(config, "a", "nslookup outside.test")
        assert.include(forwarded.stdout, "10.9.8.7", forwarded.stdout + forwarded.stderr)
        // The host (the hub) reaches its macvlan pods through the shim.
        const fromHost = yield* lan.httpGet(lan.hub, b, 8080, "/")
        assert.isString(fromHost)
        assert.strictEqual((yield* lan.busybox(lan.hub, ["ping", "-c1", "-W2", a])).code, 0)
        // Sticky: a restart, then an agent restart (live restore), then a new run of the same pod.
        yield* Api.restart("a").pipe(Effect.provideService(storeTag, agent1.store))
        const restarted = yield* until(
          "a restarted",
          status(agent1.store, "a"),
          (s) => s?.phase === "running" && s.hostPid !== sa!.hostPid
        )
        assert.strictEqual(ipOf(restarted), a)
        yield* agent1.stop
        // The shim stays across agent restarts.
        assert.include(yield* lan.linkNames(lan.hub), "tank0")
        const agent2 = yield* startAgent(config, lan, logs)
        yield* apply(agent2.store, pod("a", env.refs.busybox, { command: ["sleep", "3601"] }))
        const again = yield* until(
          "a replaced",
          status(agent2.store, "a"),
          (s) => s?.phase === "running" && s.hostPid !== restarted!.hostPid
        )
        assert.strictEqual(ipOf(again), a, "the same address after an agent restart and a new run")
        assert.strictEqual(ipOf(yield* status(agent2.store, "b")), b)
        // Delete: the address goes back to the pool.
        yield* Api.remove("a").pipe(Effect.provideService(storeTag, agent2.store))
        yield* until("a gone", status(agent2.store, "a"), (s) => s === undefined)
        const held = yield* Effect.provide(
          Effect.flatMap(Allocations, (x) => x.list),
          allocationsSqlite(config.storeFile)
        )
        assert.deepStrictEqual(
          held.map((x) => `${x.pool} ${x.address} ${x.holder}/${x.nic}`),
          [`lan 10.250.0.99 host:${config.node.name}/tank0`, `lan ${b} b/eth0`]
        )
        yield* agent2.stop
        yield* run("ip", ["-n", lan.hub.name, "link", "del", "tank0"])
      }),
    { timeout: 180_000 }
  )

  it.scopedLive(
    "50 pods applied at once from 3 processes get 50 distinct pool addresses",
    () =>
      Effect.gen(function*() {
        const lan = yield* makeLan
        const env = yield* tankEnv()
        const config = netConfig(env, lan, {
          pools: [{ name: "lan", subnet: "10.250.0.0/24", gateway: "10.250.0.1", range: "10.250.0.100-10.250.0.200" }],
          dns: { enabled: false },
          probeMs: 0
        })
        const agent = yield* startAgent(config, lan, [])
        const spec = (i: number) => ({
          name: `p${i}`,
          network: { nics: [{ name: "eth0", address: { pool: "lan" } }] },
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
        })
        const exec = promisify(execFile)
        const script = path.join(import.meta.dirname, "fixtures/applyMany.ts")
        yield* Effect.promise(() =>
          Promise.all([0, 1, 2].map((w) =>
            exec(process.execPath, [
              "--import",
              "tsx",
              script,
              JSON.stringify(Array.from({ length: w === 2 ? 16 : 17 }, (_, i) => spec(w * 17 + i)))
            ], { cwd: path.join(import.meta.dirname, "../.."), env: { ...process.env, TANK_DATA_DIR: env.dataDir } })
          ))
        )
        const statuses = yield* until(
          "50 running",
          Api.statusAll.pipe(Effect.provideService(storeTag, agent.store)),
          (all) => all.filter((s) => s.phase === "running").length === 50,
          120_000,
          250
        )
        const ips = statuses.map(ipOf)
        assert.strictEqual(new Set(ips).size, 50, ips.join(" "))
        assert.isTrue(ips.every((ip) => /^10\.250\.0\.(1\d\d|200)$/.test(ip ?? "")), ips.join(" "))
        const held = yield* Effect.provide(
          Effect.flatMap(Allocations, (x) => x.list),
          allocationsSqlite(config.storeFile)
        )
        assert.strictEqual(new Set(held.map((a) => a.address)).size, 50)
        yield* Effect.forEach(statuses, (s) => Api.remove(s.name).pipe(Effect.provideService(storeTag, agent.store)), {
          discard: true
        })
        yield* until(
          "all gone",
          Api.statusAll.pipe(Effect.provideService(storeTag, agent.store)),
          (all) => all.length === 0,
          120_000,
          250
        )
        const after = yield* Effect.provide(
          Effect.flatMap(Allocations, (x) => x.list),
          allocationsSqlite(config.storeFile)
        )
        assert.deepStrictEqual(after, [])
        yield* agent.stop
      }),
    { timeout: 300_000 }
  )
})
