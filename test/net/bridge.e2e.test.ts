/**
 * Bridge mode and published ports through the real agent (root). The hub namespace of a test LAN
 * plays the host: Tank's bridge, its nftables table and its DNS live there; "outside" is another
 * namespace joined to it by a veth (the host's address 10.252.0.1, outside 10.252.0.2, with no route
 * back to the bridge's subnet, so only masquerade lets pods reach it).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Api from "../../src/api/Api.js"
import { Allocations } from "../../src/store/Allocations.js"
import { layerSqlite as allocationsSqlite } from "../../src/store/allocationsSql.js"
import { Store } from "../../src/store/Store.js"
import { makeLan, runOk } from "../support/lan.js"
import { until } from "../support/poll.js"
import { tankEnv } from "../support/tankEnv.js"
import { inNs, inPod, netConfig, outside, startAgent, status, waitRunning } from "./support.js"

describe("bridge mode and published ports (live, root)", () => {
  it.scopedLive(
    "a published port from the host's loopback, from outside and between pods; masquerade out; a conflict named; " +
      "the same rules after an agent restart; nothing left after delete",
    () =>
      Effect.gen(function*() {
        const lan = yield* makeLan
        const env = yield* tankEnv()
        const logs: Array<string> = []
        yield* runOk("ip", ["-n", lan.hub.name, "link", "set", "lo", "up"])
        const out = yield* outside(lan, "out", "tko0", "10.252.0.1", "10.252.0.2")
        // "Upstream": a web server outside that the pods reach only through masquerade.
        const www = path.join(env.dataDir, "www")
        fs.mkdirSync(www)
        fs.writeFileSync(path.join(www, "index.html"), "upstream ok\n")
        yield* lan.spawnBusybox(out, ["httpd", "-f", "-p", "10.252.0.2:8081", "-h", www])
        const config = netConfig(env, lan, {}) // the default bridge pool, 10.88.0.0/16 on tankbr0
        const agent1 = yield* startAgent(config, lan, logs)
        const apply = (store: Store["Type"], spec: unknown) => Api.apply(spec).pipe(Effect.provideService(Store, store))
        const web = (name: string, hostPort: number) => ({
          name,
          network: { nics: [{ name: "eth0", mode: "bridge" }], ports: [{ containerPort: 8080, hostPort }] },
          containers: [{ name: "app", image: env.refs.busyboxHttpd }]
        })
        yield* apply(agent1.store, web("web", 18080))
        yield* apply(agent1.store, {
          name: "client",
          network: { nics: [{ name: "eth0", mode: "bridge" }] },
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
        })
        const sw = yield* waitRunning(agent1.store, "web")
        yield* waitRunning(agent1.store, "client")
        const webIp = sw!.addresses![0]!.split("/")[0]!
        assert.match(webIp, /^10\.88\.0\.\d+$/)
        // The host's own loopback, the host's address from outside, and another pod via the gateway (hairpin).
        assert.isString(yield* lan.httpGet(lan.hub, "127.0.0.1", 18080))
        assert.isString(yield* lan.httpGet(out, "10.252.0.1", 18080))
        const hairpin = yield* inPod(config, "client", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 10.88.0.1 18080")
        assert.include(hairpin.stdout, "200 OK", hairpin.stdout + hairpin.stderr)
        // A pod reaching its own published port: only masquerade brings the reply back through the host.
        const self = yield* inPod(config, "web", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 10.88.0.1 18080")
        assert.include(self.stdout, "200 OK", self.stdout + self.stderr)
        // Egress through masquerade, and Tank's DNS on the bridge's gateway.
        const egress = yield* inPod(config, "web", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 10.252.0.2 8081")
        assert.include(egress.stdout, "upstream ok", egress.stdout + egress.stderr)
        assert.strictEqual((yield* inPod(config, "client", "cat /etc/resolv.conf")).stdout, "nameserver 10.88.0.1\n")
        const byName = yield* inPod(config, "client", "nslookup web.tank.internal")
        assert.include(byName.stdout, webIp, byName.stdout + byName.stderr)
        // A second pod asking for the same host port is refused, naming the first.
        yield* apply(agent1.store, web("web2", 18080))
        const refused = yield* until("web2 refused", status(agent1.store, "web2"), (s) =>
          s?.phase === "failed" || s?.phase === "backing-off")
        assert.include(refused!.reason ?? "", `host port tcp/18080 is already published by pod "web"`)
        yield* Api.remove("web2").pipe(Effect.provideService(Store, agent1.store))
        yield* until("web2 gone", status(agent1.store, "web2"), (s) =>
          s === undefined)
        // The agent restarted with the pods running rebuilds exactly the same table.
        const table = () =>
          inNs(lan.hub, ["nft", "list", "table", "ip", "tank"]).pipe(Effect.map((r) => r.stdout))
        const before = yield* table()
        assert.include(before, `tcp dport 18080 dnat to ${webIp}:8080`)
        yield* agent1.stop
        yield* runOk("ip", ["netns", "exec", lan.hub.name, "nft", "delete", "table", "ip", "tank"])
        const agent2 = yield* startAgent(config, lan, logs)
        assert.strictEqual(yield* table(), before)
        yield* waitRunning(agent2.store, "web")
        assert.isString(yield* lan.httpGet(out, "10.252.0.1", 18080))
        // Delete: the port, the rule, the veth and the address are gone.
        const hubLinks = yield* lan.linkNames(lan.hub)
        assert.isTrue(hubLinks.some((l) => l.startsWith("tk") && l.length === 12), hubLinks.join(" "))
        yield* Api.remove("web").pipe(Effect.provideService(Store, agent2.store))
        yield* Api.remove("client").pipe(Effect.provideService(Store, agent2.store))
        yield* until("web gone", status(agent2.store, "web"), (s) => s === undefined)
        yield* until("client gone", status(agent2.store, "client"), (s) => s === undefined)
        const after = yield* table()
        assert.notInclude(after, "18080")
        assert.notInclude(after, "masquerade")
        assert.deepStrictEqual((yield* lan.linkNames(lan.hub)).filter((l) => /^tk[0-9a-f]{10}$/.test(l)), [])
        const closed = yield* Effect.either(lan.httpGet(lan.hub, "127.0.0.1", 18080))
        assert.strictEqual(closed._tag, "Left")
        const held = yield* Effect.provide(
          Effect.flatMap(Allocations, (x) => x.list),
          allocationsSqlite(config.storeFile)
        )
        assert.deepStrictEqual(held, [])
        // Only Tank's table was ever written in the host namespace.
        const tables = yield* inNs(lan.hub, ["nft", "list", "tables"])
        assert.strictEqual(tables.stdout.trim(), "table ip tank")
        yield* agent2.stop
      }),
    { timeout: 180_000 }
  )
})
