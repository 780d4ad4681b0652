/**
 * The Network service against real namespaces (root): a test LAN (test/support/lan.ts) whose macvlan
 * parents live in a hub namespace, pods in namespaces of their own. Traffic only ever flows between
 * namespaces the test created.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule, type Scope } from "effect"
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NoUplink } from "../../src/net/errors.js"
import { macFor, vethName } from "../../src/net/mac.js"
import { Network, type ResolvedNic, type SetupNetwork, type SetupOptions } from "../../src/net/Network.js"
import { NetworkLive } from "../../src/net/NetworkLive.js"
import { type Lan, makeLan, type Netns, runOk } from "../support/lan.js"

const HUB_LINKS = ["lo", "tkp0", "tkp1", "tkq0", "tkq1"]

const nic = (name: string, address: string, extra: Partial<ResolvedNic> = {}): ResolvedNic => ({
  name,
  mode: "macvlan",
  parent: "tkp0",
  address,
  ...extra
})

const noUplink = () => Effect.fail(new NoUplink({ reason: "no uplink configured" }))

/** Sets up `network` for pod `pod` in `ns`, with the hub as the parents' namespace. */
const setup = (
  lan: Lan,
  ns: Netns,
  pod: string,
  network: SetupNetwork,
  extra: Partial<SetupOptions> = {}
) =>
  Effect.flatMap(
    Network,
    (net) => net.setup({ pod, netnsPath: ns.path, network, uplink: noUplink, parentNetns: lan.hub.path, ...extra })
  )

const ifaces = (ns: Netns) => Effect.flatMap(Network, (net) => net.interfaces(ns.path))

/** What a failed setup or a teardown must leave: the pod with only lo, the hub as the fixture made it. */
const assertNothingLeft = (lan: Lan, ns: Netns) =>
  Effect.gen(function*() {
    expect(yield* lan.linkNames(ns)).toEqual(["lo"])
    expect(yield* lan.linkNames(lan.hub)).toEqual(HUB_LINKS)
  })

/** A test with a fresh LAN, the live Network layer, and a real clock. */
const lanTest = (name: string, body: (lan: Lan) => Effect.Effect<void, unknown, Network | Scope.Scope>) =>
  it.scopedLive(name, () => Effect.flatMap(makeLan, body).pipe(Effect.provide(NetworkLive)), 30_000)

const ping = (lan: Lan, from: Netns, to: string) => lan.busybox(from, ["ping", "-c1", "-W1", to])

/** Serves `text` over HTTP from `ns` on port 8080 (busybox httpd, killed with the Scope). */
const serve = (lan: Lan, ns: Netns, text: string) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "tank-net-httpd-"))),
      (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
    )
    writeFileSync(join(dir, "index.html"), text)
    yield* lan.spawnBusybox(ns, ["httpd", "-f", "-p", "8080", "-h", dir])
  })

const fetchText = (lan: Lan, from: Netns, ip: string) =>
  lan.httpGet(from, ip, 8080).pipe(
    // httpd needs a moment to bind.
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(40))))
  )

describe("Network (real namespaces, root)", () => {
  lanTest("none: only loopback, up", (lan) =>
    Effect.gen(function*() {
      const ns = yield* lan.podNetns("none")
      const state = yield* setup(lan, ns, "p-none", "none")
      expect(state.mode).toBe("none")
      const ifs = yield* ifaces(ns)
      expect(ifs.map((i) => [i.name, i.up])).toEqual([["lo", true]])
      expect(ifs[0]!.addresses).toContain("127.0.0.1/8")
    }))

  lanTest("host: nothing is touched", (lan) =>
    Effect.gen(function*() {
      const ns = yield* lan.podNetns("host")
      const state = yield* setup(lan, ns, "p-host", "host")
      expect(state).toEqual({ pod: "p-host", mode: "host", nics: [] })
      expect((yield* ifaces(ns)).map((i) => [i.name, i.up])).toEqual([["lo", false]])
    }))

  lanTest(
    "two pods reach each other and the LAN host by IP (ping, HTTP); teardown leaves no link",
    (lan) =>
      Effect.gen(function*() {
        const a = yield* lan.podNetns("a")
        const b = yield* lan.podNetns("b")
        yield* Effect.scoped(Effect.gen(function*() {
          const sa = yield* setup(lan, a, "pod-a", { nics: [nic("eth0", "10.250.0.21/24")], dns: [] })
          yield* setup(lan, b, "pod-b", { nics: [nic("eth0", "10.250.0.22/24")], dns: [] })
          const eth0 = (yield* ifaces(a)).find((i) => i.name === "eth0")!
          expect(eth0).toMatchObject({ up: true, kind: "macvlan", mac: macFor("pod-a", "eth0") })
          expect(eth0.addresses).toContain("10.250.0.21/24")
          expect(sa.nics).toEqual([{
            name: "eth0",
            mode: "macvlan",
            parent: "tkp0",
            mac: macFor("pod-a", "eth0"),
            address: "10.250.0.21/24",
            index: eth0.index
          }])

          expect((yield* ping(lan, a, "10.250.0.22")).code).toBe(0)
          expect((yield* ping(lan, b, "10.250.0.21")).code).toBe(0)
          expect((yield* ping(lan, a, lan.lanHost.address)).code).toBe(0)
          expect((yield* ping(lan, lan.lanHost, "10.250.0.22")).code).toBe(0)
          // Negative control: nobody has .99, so the same ping must fail.
          expect((yield* ping(lan, a, "10.250.0.99")).code).not.toBe(0)

          yield* serve(lan, b, "hello from pod b\n")
          yield* serve(lan, lan.lanHost, "hello from the LAN host\n")
          expect(yield* fetchText(lan, a, "10.250.0.22")).toBe("hello from pod b\n")
          expect(yield* fetchText(lan, a, "10.250.0.1")).toBe("hello from the LAN host\n")

          const after = (yield* ifaces(a)).find((i) => i.name === "eth0")!
          expect(after.txBytes).toBeGreaterThan(eth0.txBytes)
          expect(after.rxBytes).toBeGreaterThan(eth0.rxBytes)
          expect(after.rxPackets).toBeGreaterThan(0)
        }))
        yield* assertNothingLeft(lan, a)
        yield* assertNothingLeft(lan, b)
        // The agent's own namespace never saw these NICs.
        const own = yield* Effect.flatMap(Network, (net) => net.interfaces())
        expect(own.map((i) => i.mac)).not.toContain(macFor("pod-a", "eth0"))
      })
  )

  lanTest(
    "several NICs on two LANs, default routes via gateways (first wins by metric)",
    (lan) =>
      Effect.gen(function*() {
        const ns = yield* lan.podNetns("multi")
        const state = yield* setup(lan, ns, "multi", {
          nics: [
            nic("eth0", "10.250.0.31/24", { gateway: "10.250.0.1" }),
            nic("eth1", "10.251.0.31/24", { parent: "tkq0", gateway: "10.251.0.1" }),
            nic("eth2", "10.252.0.31/16")
          ],
          dns: ["10.250.0.1"]
        })
        expect(state.nics.map((n) => n.name)).toEqual(["eth0", "eth1", "eth2"])
        const ifs = yield* ifaces(ns)
        expect(ifs.map((i) => [i.name, i.up, i.addresses.filter((a) => !a.includes(":"))])).toEqual([
          ["lo", true, ["127.0.0.1/8"]],
          ["eth0", true, ["10.250.0.31/24"]],
          ["eth1", true, ["10.251.0.31/24"]],
          ["eth2", true, ["10.252.0.31/16"]]
        ])
        const routes = yield* Effect.flatMap(Network, (net) => net.routes(ns.path))
        const defaults = routes.filter((r) => r.dstLen === 0).map((r) => ({
          gw: r.gateway,
          oif: r.oif,
          m: r.priority ?? 0
        }))
        const index = (n: string) => ifs.find((i) => i.name === n)!.index
        expect(defaults).toEqual([{ gw: "10.250.0.1", oif: index("eth0"), m: 0 }, {
          gw: "10.251.0.1",
          oif: index("eth1"),
          m: 1
        }])
        // The default route really carries traffic: .1 answers, and an off-LAN address goes to the gateway.
        expect((yield* ping(lan, ns, "10.250.0.1")).code).toBe(0)
      })
  )

  lanTest(
    "parent auto resolves through the uplink; no uplink is a typed error naming the NIC",
    (lan) =>
      Effect.gen(function*() {
        const ns = yield* lan.podNetns("auto")
        const network = { nics: [nic("eth0", "10.250.0.41/24", { parent: "auto" })], dns: [] }
        const err = yield* Effect.scoped(setup(lan, ns, "auto", network)).pipe(Effect.flip)
        expect(err).toMatchObject({ _tag: "NoUplink", nic: "eth0", reason: "no uplink configured" })
        yield* assertNothingLeft(lan, ns)
        const state = yield* setup(lan, ns, "auto", network, { uplink: () => Effect.succeed(lan.parent) })
        expect(state.nics[0]!.parent).toBe("tkp0")
        expect((yield* ping(lan, ns, lan.lanHost.address)).code).toBe(0)
      })
  )

  lanTest("a missing parent is ParentNotFound naming the NIC", (lan) =>
    Effect.gen(function*() {
      const ns = yield* lan.podNetns("noparent")
      const err = yield* Effect.scoped(
        setup(lan, ns, "np", { nics: [nic("eth0", "10.250.0.51/24", { parent: "nosuch0" })], dns: [] })
      ).pipe(Effect.flip)
      expect(err).toMatchObject({ _tag: "ParentNotFound", nic: "eth0", parent: "nosuch0" })
      expect(err.message).toBe(`eth0: parent link "nosuch0" not found`)
    }))

  lanTest("a failure in the middle leaves no link behind in either namespace", (lan) =>
    Effect.gen(function*() {
      const ns = yield* lan.podNetns("mid")
      // Second NIC's parent is missing: the first NIC was already made.
      const e1 = yield* Effect.scoped(setup(lan, ns, "mid", {
        nics: [nic("eth0", "10.250.0.61/24"), nic("eth1", "10.250.0.62/24", { parent: "nosuch0" })],
        dns: []
      })).pipe(Effect.flip)
      expect(e1).toMatchObject({ _tag: "ParentNotFound", nic: "eth1" })
      yield* assertNothingLeft(lan, ns)
      // Second NIC's gateway is off its subnet: it fails at the route step, after its link and address exist.
      const e2 = yield* Effect.scoped(setup(lan, ns, "mid", {
        nics: [nic("eth0", "10.250.0.61/24"), nic("eth1", "10.251.0.62/24", { parent: "tkq0", gateway: "10.99.0.1" })],
        dns: []
      })).pipe(Effect.flip)
      expect(e2).toMatchObject({ _tag: "LinkCreateFailed", nic: "eth1", step: "route", errno: 101 })
      expect(e2.message).toContain("Nexthop has invalid gateway")
      yield* assertNothingLeft(lan, ns)
      // Two NICs with one address: refused before anything is made.
      const e3 = yield* Effect.scoped(setup(lan, ns, "mid", {
        nics: [nic("eth0", "10.250.0.61/24"), nic("eth1", "10.250.0.61/24", { parent: "tkq0" })],
        dns: []
      })).pipe(Effect.flip)
      expect(e3).toMatchObject({ _tag: "AddressInUse", nic: "eth1", address: "10.250.0.61/24" })
      yield* assertNothingLeft(lan, ns)
    }))

  lanTest(
    "with probing on, an address held on the LAN is AddressInUse and nothing is left behind",
    (lan) =>
      Effect.gen(function*() {
        const a = yield* lan.podNetns("pa")
        const b = yield* lan.podNetns("pb")
        const probe = "300 millis"
        // The LAN host holds 10.250.0.1.
        const e1 = yield* Effect.scoped(
          setup(lan, a, "pa", { nics: [nic("eth0", "10.250.0.1/24")], dns: [] }, { probe })
        ).pipe(Effect.flip)
        expect(e1).toMatchObject({ _tag: "AddressInUse", nic: "eth0", address: "10.250.0.1/24" })
        const lanMac = (yield* ifaces(lan.lanHost)).find((i) => i.name === "eth0")!.mac!
        expect(e1.message).toContain(lanMac)
        yield* assertNothingLeft(lan, a)
        // Pod a takes .55 (a free address: the probe passes); pod b asking for .55 too is refused.
        yield* setup(lan, a, "pa", { nics: [nic("eth0", "10.250.0.55/24")], dns: [] }, { probe })
        const e2 = yield* Effect.scoped(
          setup(lan, b, "pb", { nics: [nic("eth0", "10.250.0.55/24")], dns: [] }, { probe })
        ).pipe(Effect.flip)
        expect(e2).toMatchObject({ _tag: "AddressInUse", nic: "eth0" })
        expect(e2.message).toContain(macFor("pa", "eth0"))
        yield* assertNothingLeft(lan, b)
        // Without probing the same mistake goes unnoticed (the kernel has no IPv4 DAD): the control case.
        yield* setup(lan, b, "pb", { nics: [nic("eth0", "10.250.0.55/24")], dns: [] })
      })
  )

  lanTest(
    "a name already taken in the pod's namespace fails at the create step, and the other link stays",
    (lan) =>
      Effect.gen(function*() {
        const ns = yield* lan.podNetns("taken")
        yield* setup(lan, ns, "taken", { nics: [nic("eth0", "10.250.0.71/24")], dns: [] })
        const err = yield* Effect.scoped(setup(lan, ns, "taken2", { nics: [nic("eth0", "10.250.0.72/24")], dns: [] }))
          .pipe(
            Effect.flip
          )
        expect(err).toMatchObject({ _tag: "LinkCreateFailed", nic: "eth0", step: "create", errno: 17 })
        // The failed setup must not delete a link it did not make.
        expect(yield* lan.linkNames(ns)).toEqual(["eth0", "lo"])
      })
  )

  lanTest("the MAC is deterministic across setups (stable ARP)", (lan) =>
    Effect.gen(function*() {
      const ns = yield* lan.podNetns("mac")
      const network = { nics: [nic("eth0", "10.250.0.81/24")], dns: [] }
      const macs: Array<string | undefined> = []
      for (let i = 0; i < 2; i++) {
        yield* Effect.scoped(Effect.gen(function*() {
          yield* setup(lan, ns, "stable", network)
          macs.push((yield* ifaces(ns)).find((x) => x.name === "eth0")?.mac)
        }))
        yield* assertNothingLeft(lan, ns)
      }
      expect(macs).toEqual([macFor("stable", "eth0"), macFor("stable", "eth0")])
      const seeded = yield* setup(lan, ns, "stable", network, { macSeed: "host-2" })
      expect(seeded.nics[0]!.mac).toBe(macFor("stable", "eth0", "host-2"))
      expect(seeded.nics[0]!.mac).not.toBe(macs[0])
    }))

  lanTest("teardown tolerates a namespace that is already gone", (lan) =>
    Effect.gen(function*() {
      const ns = yield* lan.podNetns("gone")
      yield* Effect.scoped(Effect.gen(function*() {
        yield* setup(lan, ns, "gone", { nics: [nic("eth0", "10.250.0.91/24")], dns: [] })
        yield* Effect.promise(() =>
          import("node:child_process").then((cp) => cp.execFileSync("ip", ["netns", "del", ns.name]))
        )
      }))
      expect(yield* lan.linkNames(lan.hub)).toEqual(HUB_LINKS)
    }))

  lanTest("refuses the agent's own namespace as a pod's", (lan) =>
    Effect.gen(function*() {
      const err = yield* Effect.scoped(
        setup(lan, { name: "self", path: "/proc/self/ns/net" }, "self", {
          nics: [nic("eth0", "10.250.0.95/24")],
          dns: []
        })
      ).pipe(Effect.flip)
      expect(err).toMatchObject({ _tag: "NetlinkError", op: "setup" })
    }))

  lanTest(
    "the agent's thread never stays in a pod's namespace, even when setup fails",
    (lan) =>
      Effect.gen(function*() {
        const own = () => statSync("/proc/thread-self/ns/net").ino
        const before = own()
        const ns = yield* lan.podNetns("home")
        yield* setup(lan, ns, "home", { nics: [nic("eth0", "10.250.0.96/24")], dns: [] })
        expect(own()).toBe(before)
        yield* Effect.scoped(
          setup(lan, ns, "home", { nics: [nic("eth1", "10.250.0.97/24", { parent: "x0" })], dns: [] })
        )
          .pipe(Effect.flip)
        expect(own()).toBe(before)
        const missing = yield* Effect.scoped(setup(lan, { name: "x", path: `${ns.path}-missing` }, "home", "none"))
          .pipe(
            Effect.flip
          )
        expect(missing).toMatchObject({ _tag: "NetlinkError", errno: 2 })
        expect(own()).toBe(before)
      })
  )

  lanTest("linkExists / deleteLink in a given namespace", (lan) =>
    Effect.gen(function*() {
      const net = yield* Network
      expect(yield* net.linkExists("tkq1", lan.hub.path)).toBe(true)
      expect(yield* net.linkExists("nosuch0", lan.hub.path)).toBe(false)
      expect(yield* net.deleteLink("tkq1", lan.hub.path)).toBe(true)
      // Deleting one end of a veth takes its peer too.
      expect(yield* net.linkExists("tkq0", lan.hub.path)).toBe(false)
      expect(yield* net.deleteLink("tkq1", lan.hub.path)).toBe(false)
      expect(yield* lan.linkNames(lan.hub)).toEqual(["lo", "tkp0", "tkp1"])
    }))

  lanTest(
    "bridge NICs: a veth into the pod, its host end on the bridge (hairpin on); gone with the setup; " +
      "a missing bridge fails at the bridge step leaving nothing",
    (lan) =>
      Effect.gen(function*() {
        // The hub plays the host: a bridge made with ip (an oracle independent of the code under test).
        const hub = (...args: Array<string>) => runOk("ip", ["-n", lan.hub.name, ...args])
        yield* hub("link", "add", "tb0", "type", "bridge")
        yield* hub("addr", "add", "10.89.0.1/24", "dev", "tb0")
        yield* hub("link", "set", "tb0", "up")
        const a = yield* lan.podNetns("ba")
        const bridged = (name: string, address: string) =>
          nic(name, address, { mode: "bridge", bridge: "tb0", gateway: "10.89.0.1" })
        yield* Effect.scoped(Effect.gen(function*() {
          const state = yield* setup(lan, a, "pod-ba", { nics: [bridged("eth0", "10.89.0.2/24")] }, {
            hostNetns: lan.hub.path
          })
          const hostEnd = vethName("pod-ba", "eth0")
          expect(state.nics[0]).toMatchObject({ mode: "bridge", bridge: "tb0", hostLink: hostEnd, parent: "tb0" })
          const detail = yield* runOk("ip", ["-n", lan.hub.name, "-d", "link", "show", hostEnd])
          expect(detail).toContain("master tb0")
          expect(detail).toContain("hairpin on")
          const eth0 = (yield* ifaces(a)).find((i) => i.name === "eth0")!
          expect(eth0).toMatchObject({ up: true, kind: "veth", mac: macFor("pod-ba", "eth0") })
          expect((yield* ping(lan, a, "10.89.0.1")).code).toBe(0)
        }))
        expect(yield* lan.linkNames(a)).toEqual(["lo"])
        expect((yield* lan.linkNames(lan.hub)).filter((l) => l.startsWith("tk") && l.length === 12)).toEqual([])
        const err = yield* Effect.scoped(
          setup(lan, a, "pod-ba", { nics: [{ ...bridged("eth0", "10.89.0.3/24"), bridge: "nosuch" }] }, {
            hostNetns: lan.hub.path
          })
        ).pipe(Effect.flip)
        expect(err).toMatchObject({ _tag: "LinkCreateFailed", nic: "eth0", step: "bridge" })
        expect(err.message).toContain(`bridge "nosuch" does not exist`)
        expect(yield* lan.linkNames(a)).toEqual(["lo"])
      })
  )
})
