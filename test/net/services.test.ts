/**
 * The pure parts of the networking services: IPv4 arithmetic, pool planning (with the in-memory
 * Allocations), the rules' state from the store's, the nftables text, DNS zone lookups.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { resolveNetwork } from "../../src/config/network.js"
import { lookup, zoneFrom } from "../../src/net/dns/zone.js"
import { claimPorts, planNics } from "../../src/net/ipam.js"
import { coveringCidrs, formatCidr, fromReverseName, parseCidr, reverseName, toInt } from "../../src/net/ipv4.js"
import { ruleset } from "../../src/net/nft.js"
import { dnsChain } from "../../src/net/resolvConf.js"
import { rulesFrom } from "../../src/net/rulesFrom.js"
import { decodePod } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"
import { Allocations } from "../../src/store/Allocations.js"
import { layerMemory } from "../../src/store/allocationsMemory.js"

const pools = resolveNetwork({
  pools: [
    {
      name: "lan",
      subnet: "10.0.0.0/24",
      gateway: "10.0.0.1",
      range: "10.0.0.10-10.0.0.12",
      dns: ["10.0.0.1"],
      reserved: ["10.0.0.10"]
    }
  ]
}).pools

const podOf = (name: string, network: unknown) =>
  decodePod({ name, network, containers: [{ name: "app", image: "busybox" }] }).pipe(Effect.orDie)

describe("ipv4", () => {
  it("cidrs, covering ranges, reverse names", () => {
    assert.strictEqual(formatCidr(parseCidr("10.0.0.77/24")!), "10.0.0.0/24")
    assert.deepStrictEqual(coveringCidrs(toInt("10.0.0.100"), toInt("10.0.0.120")).map(formatCidr), [
      "10.0.0.100/30",
      "10.0.0.104/29",
      "10.0.0.112/29",
      "10.0.0.120/32"
    ])
    assert.deepStrictEqual(coveringCidrs(toInt("10.0.0.0"), toInt("10.0.0.255")).map(formatCidr), ["10.0.0.0/24"])
    assert.strictEqual(reverseName("10.0.0.20"), "20.0.0.10.in-addr.arpa")
    assert.strictEqual(fromReverseName("20.0.0.10.IN-ADDR.ARPA."), "10.0.0.20")
    assert.isUndefined(fromReverseName("300.0.0.10.in-addr.arpa"))
  })
})

describe("pool planning", () => {
  it.effect("pool NICs allocate (skipping reserved and gateway), static ones in a pool are claimed, a renamed NIC frees its old address", () =>
    Effect.gen(function*() {
      const a = yield* Allocations
      const web = yield* podOf("web", { nics: [{ name: "eth0", address: { pool: "lan" } }] })
      const [n] = yield* planNics(web, pools, () => [])
      assert.deepStrictEqual(n!.nic, {
        name: "eth0",
        mode: "macvlan",
        parent: "auto",
        address: "10.0.0.11/24",
        gateway: "10.0.0.1"
      })
      assert.isTrue(n!.allocated)
      const st = yield* podOf("st", { nics: [{ name: "eth0", address: "10.0.0.12/24" }] })
      yield* planNics(st, pools, () => [])
      const full = yield* podOf("full", { nics: [{ name: "eth0", address: { pool: "lan" } }] })
      const err = yield* Effect.flip(planNics(full, pools, () => []))
      assert.include(err.message, `pool "lan" has no free address`)
      const taken = yield* Effect.flip(
        planNics(yield* podOf("x", { nics: [{ name: "eth0", address: "10.0.0.11/24" }] }), pools, () => [])
      )
      assert.include(taken.message, `pod "web"`)
      // Renamed NIC: the old allocation is released, the new one takes the first free address.
      const renamed = yield* podOf("web", { nics: [{ name: "eth1", address: { pool: "lan" } }] })
      yield* planNics(renamed, pools, () => [])
      assert.deepStrictEqual((yield* a.list).map((x) => `${x.address} ${x.holder}/${x.nic}`), [
        "10.0.0.11 web/eth1",
        "10.0.0.12 st/eth0"
      ])
      const unknown = yield* Effect.flip(
        planNics(yield* podOf("u", { nics: [{ name: "eth0", address: { pool: "nope" } }] }), pools, () => [])
      )
      assert.include(unknown.message, `no pool "nope"`)
      const wrongKind = yield* Effect.flip(
        planNics(
          yield* podOf("k", { nics: [{ name: "eth0", mode: "bridge", address: { pool: "lan" } }] }),
          pools,
          () => []
        )
      )
      assert.include(wrongKind.message, "is a macvlan pool")
    }).pipe(Effect.provide(layerMemory)))

  it.effect("host ports: claimed per node, refused naming the publisher, dropped ports released", () =>
    Effect.gen(function*() {
      const a = yield* Allocations
      const web = yield* podOf("web", {
        nics: [{ name: "eth0", mode: "bridge" }],
        ports: [{ containerPort: 80, hostPort: 8080 }]
      })
      yield* claimPorts(web, undefined)
      const other = yield* podOf("other", {
        nics: [{ name: "eth0", mode: "bridge" }],
        ports: [{ containerPort: 80, hostPort: 8080 }]
      })
      const err = yield* Effect.flip(claimPorts(other, undefined))
      assert.strictEqual(err._tag, "AddressTaken")
      assert.strictEqual(err._tag === "AddressTaken" && err.holder, "web")
      yield* claimPorts(other, "n2") // another node: another port space
      const none = yield* podOf("web", { nics: [{ name: "eth0", mode: "bridge" }] })
      yield* claimPorts(none, undefined)
      assert.deepStrictEqual((yield* a.list).map((x) => `${x.pool} ${x.address} ${x.holder}`), [
        "hostports@n2 tcp/8080 other"
      ])
    }).pipe(Effect.provide(layerMemory)))
})

describe("rules", () => {
  it.effect("the rules' state comes from allocations and specs only, and renders deterministically", () =>
    Effect.gen(function*() {
      const defaults = resolveNetwork(undefined).pools
      const web = yield* podOf("web", {
        nics: [{ name: "eth0", mode: "bridge" }],
        ports: [{ containerPort: 80, hostPort: 18080 }, {
          containerPort: 53,
          hostPort: 5353,
          protocol: "udp",
          hostIP: "127.0.0.1"
        }]
      })
      const allocs = [
        { pool: "default", address: "10.88.0.2", holder: "web", nic: "eth0", at: 1 },
        { pool: "hostports", address: "tcp/18080", holder: "web", nic: "tcp/18080", at: 1 },
        { pool: "hostports", address: "udp/5353", holder: "web", nic: "udp/5353", at: 1 }
      ]
      const state = rulesFrom(defaults, allocs, [web], "hostports", () => true)
      assert.deepStrictEqual(state.bridges, [{ name: "tankbr0", subnet: "10.88.0.0/16" }])
      assert.deepStrictEqual(
        state.ports.map((p) => `${p.protocol} ${p.hostPort} ${p.address}:${p.containerPort} ${p.hostIP ?? "*"}`),
        [
          "tcp 18080 10.88.0.2:80 *",
          "udp 5353 10.88.0.2:53 127.0.0.1"
        ]
      )
      const text = ruleset(state)
      assert.strictEqual(ruleset(rulesFrom(defaults, [...allocs].reverse(), [web], "hostports", () => true)), text)
      assert.include(text, `tcp dport 18080 dnat to 10.88.0.2:80 comment "pod web"`)
      assert.include(text, `ip daddr 127.0.0.1 udp dport 5353 dnat to 10.88.0.2:53 comment "pod web"`)
      assert.include(text, `ip saddr 10.88.0.0/16 oifname != "tankbr0" masquerade`)
      assert.isTrue(text.startsWith("table ip tank {}\ndelete table ip tank\n"))
      // Nothing of another node's pods.
      assert.deepStrictEqual(rulesFrom(defaults, allocs, [web], "hostports", () => false), { bridges: [], ports: [] })
    }))
})

describe("dns zone", () => {
  it.effect("A for pods, PTR for their addresses, NXDOMAIN inside the domain, forward outside", () =>
    Effect.gen(function*() {
      const web = yield* podOf("web", {
        nics: [{ name: "eth0", address: "10.0.0.5/24" }, { name: "eth1", mode: "bridge" }]
      })
      const zone = zoneFrom("tank.internal", [web], [{
        pool: "default",
        address: "10.88.0.9",
        holder: "web",
        nic: "eth1",
        at: 0
      }])
      assert.deepStrictEqual(lookup(zone, "web.tank.internal.", "A"), {
        _tag: "Local",
        exists: true,
        answers: [{ type: "A", data: "10.0.0.5" }, { type: "A", data: "10.88.0.9" }]
      })
      assert.deepStrictEqual(lookup(zone, "9.0.88.10.in-addr.arpa", "PTR"), {
        _tag: "Local",
        exists: true,
        answers: [{ type: "PTR", data: "web.tank.internal" }]
      })
      assert.deepStrictEqual(lookup(zone, "web.tank.internal", "AAAA"), { _tag: "Local", exists: true, answers: [] })
      assert.deepStrictEqual(lookup(zone, "x.web.tank.internal", "A"), { _tag: "Local", exists: false, answers: [] })
      assert.deepStrictEqual(lookup(zone, "example.com", "A"), { _tag: "Forward" })
      assert.deepStrictEqual(lookup(zone, "1.1.1.1.in-addr.arpa", "PTR"), { _tag: "Forward" })
    }))
})

describe("resolv.conf chain", () => {
  it.effect("the pod's dns, else its pool's, else Tank's DNS where the pod reaches it, else none", () =>
    Effect.gen(function*() {
      const all = resolveNetwork({
        pools: [
          { name: "lan", subnet: "10.0.0.0/24", gateway: "10.0.0.1", shim: { name: "tank0", address: "10.0.0.99" } },
          { name: "dnsy", subnet: "10.1.0.0/24", dns: ["10.1.0.53"] }
        ]
      }).pools
      const tank = {
        pools: all,
        shims: new Map([["lan", "10.0.0.99"]]),
        listening: new Set(["10.0.0.99", "10.88.0.1"])
      }
      const plan = (pod: Pod) => Effect.provide(planNics(pod, all, () => []), layerMemory)
      const own = yield* podOf("own", { nics: [{ name: "eth0", address: { pool: "dnsy" } }], dns: ["9.9.9.9"] })
      assert.deepStrictEqual(dnsChain(own, yield* plan(own), tank), ["9.9.9.9"])
      const pooled = yield* podOf("pooled", { nics: [{ name: "eth0", address: { pool: "dnsy" } }] })
      assert.deepStrictEqual(dnsChain(pooled, yield* plan(pooled), tank), ["10.1.0.53"])
      const shimmed = yield* podOf("shimmed", { nics: [{ name: "eth0", address: "10.0.0.7/24" }] })
      assert.deepStrictEqual(dnsChain(shimmed, yield* plan(shimmed), tank), ["10.0.0.99"])
      const bridged = yield* podOf("bridged", { nics: [{ name: "eth0", mode: "bridge" }] })
      assert.deepStrictEqual(dnsChain(bridged, yield* plan(bridged), tank), ["10.88.0.1"])
      // Tank's DNS not listening there (disabled, or the port taken): the host's servers.
      assert.deepStrictEqual(dnsChain(bridged, yield* plan(bridged), { ...tank, listening: new Set() }), [])
      const elsewhere = yield* podOf("elsewhere", { nics: [{ name: "eth0", address: "192.168.9.9/24" }] })
      assert.deepStrictEqual(dnsChain(elsewhere, yield* plan(elsewhere), tank), [])
    }))
})
