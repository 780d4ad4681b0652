/**
 * Bench: "pod netns exists" → "network ready" for a one-NIC macvlan pod (lo up, macvlan with address, up,
 * default route), through Tank's Network service versus the equivalent `ip` command sequence
 * (reference/infra.md §3 measured ~48 ms for netns add + 6 `ip` calls + netns del).
 *
 * Everything happens on the test LAN (test/support/lan.ts): parents in a private hub namespace, nothing
 * on the host's interfaces. Run as root: `npx tsx bench/network.ts [runs]` (default 30).
 * Then the networking services (bench/networkServices.ts): DNS vs dnsmasq, bridge vs macvlan apply,
 * throughput through a published port.
 */
import { Effect, Exit, Scope } from "effect"
import { performance } from "node:perf_hooks"
import { NoUplink } from "../src/net/errors.js"
import { Network } from "../src/net/Network.js"
import { NetworkLive } from "../src/net/NetworkLive.js"
import { makeLan, run, runOk } from "../test/support/lan.js"

import { servicesBench } from "./networkServices.js"
import { report } from "./report.js"

const runs = Number(process.argv[2] ?? 30)

const stats = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!
  return { median: at(0.5), p90: at(0.9), min: s[0]!, max: s[s.length - 1]! }
}
const fmt = (xs: ReadonlyArray<number>) => {
  const s = stats(xs)
  return `median ${s.median.toFixed(2)} ms  p90 ${s.p90.toFixed(2)}  min ${s.min.toFixed(2)}  max ${s.max.toFixed(2)}`
}

const program = Effect.gen(function*() {
  const lan = yield* makeLan
  const net = yield* Network
  const tank: Array<number> = []
  const ipSeq: Array<number> = []
  const ipAdd: Array<number> = []
  const address = "10.250.0.40/24"

  for (let i = 0; i < runs + 3; i++) {
    const warm = i >= 3 // the first 3 iterations warm up caches and the JIT
    // Tank: the namespace exists (pinned), the service brings the network up.
    const name = `${lan.hub.name.replace(/-hub$/, "")}-bench`
    yield* runOk("ip", ["netns", "add", name])
    const scope = yield* Scope.make()
    const t0 = performance.now()
    yield* net.setup({
      pod: "bench",
      netnsPath: `/run/netns/${name}`,
      network: {
        nics: [{ name: "eth0", mode: "macvlan", parent: lan.parent, address, gateway: "10.250.0.1" }],
        dns: []
      },
      uplink: () => Effect.fail(new NoUplink({ reason: "not used" })),
      parentNetns: lan.hub.path
    }).pipe(Scope.extend(scope))
    if (warm) tank.push(performance.now() - t0)
    yield* Scope.close(scope, Exit.void)
    yield* run("ip", ["netns", "del", name])

    // ip: the same steps the original made (transient name in the parent's netns, move, rename, ...).
    const t1 = performance.now()
    yield* runOk("ip", ["netns", "add", name])
    const t2 = performance.now()
    const hub = ["-n", lan.hub.name]
    yield* runOk("ip", [
      ...hub,
      "link",
      "add",
      "link",
      lan.parent,
      "name",
      "tkbench0",
      "type",
      "macvlan",
      "mode",
      "bridge"
    ])
    yield* runOk("ip", [...hub, "link", "set", "tkbench0", "netns", name])
    yield* runOk("ip", ["-n", name, "link", "set", "lo", "up"])
    yield* runOk("ip", ["-n", name, "link", "set", "tkbench0", "name", "eth0"])
    yield* runOk("ip", ["-n", name, "addr", "add", address, "dev", "eth0"])
    yield* runOk("ip", ["-n", name, "link", "set", "eth0", "up"])
    yield* runOk("ip", ["-n", name, "route", "add", "default", "via", "10.250.0.1"])
    const t3 = performance.now()
    if (warm) {
      ipAdd.push(t2 - t1)
      ipSeq.push(t3 - t2)
    }
    yield* run("ip", ["netns", "del", name])
  }

  const tm = stats(tank).median, im = stats(ipSeq).median, am = stats(ipAdd).median
  console.log(`network ready for a one-NIC macvlan pod, ${runs} runs (netns already pinned):`)
  console.log(`  tank Network.setup (rtnetlink)   ${fmt(tank)}`)
  console.log(`  ip sequence (7 ip calls)         ${fmt(ipSeq)}`)
  console.log(`  ip netns add (not in either)     ${fmt(ipAdd)}`)
  console.log(`  ratio (medians): tank is ${(im / tm).toFixed(1)}x faster than the ip sequence`)
  console.log(`                   ${((im + am) / tm).toFixed(1)}x against the ip sequence including its netns add`)
  report([{
    bench: "network",
    case: "one-NIC macvlan pod: network ready",
    tank: tm,
    peer: "ip command sequence",
    peerValue: im
  }])
})

Effect.runPromise(
  Effect.scoped(program).pipe(Effect.provide(NetworkLive), Effect.zipRight(servicesBench))
).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
