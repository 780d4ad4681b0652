/**
 * Networking: a pod with its own MAC and LAN address through macvlan on a host uplink (no bridge, no
 * NAT), a second NIC on another uplink when given, and pod-level DNS.
 *
 *   TANK_EXAMPLE_UPLINK=eth0 TANK_EXAMPLE_ADDRESS=192.168.1.250/24 TANK_EXAMPLE_GATEWAY=192.168.1.1 \
 *     tsx scratch/macvlan-network.ts
 *
 * Env: TANK_EXAMPLE_UPLINK (required; without it the example explains and exits 0),
 *      TANK_EXAMPLE_ADDRESS (default 10.250.0.5/24), TANK_EXAMPLE_GATEWAY (pinged when set),
 *      TANK_EXAMPLE_UPLINK2 + TANK_EXAMPLE_ADDRESS2 (a second NIC, eth1),
 *      TANK_EXAMPLE_PARENT_NETNS (a netns path holding the uplinks; the tests use a private LAN).
 * Pick a free address on that LAN. macvlan is usually refused on Wi-Fi uplinks.
 * Starts an agent in-process. Image: $TANK_EXAMPLE_IMAGE (default 127.0.0.1:5000/tank/busybox).
 */
import { Effect } from "effect"
import { execCapture } from "../src/exec/index.js"
import { type Spec, Tank } from "../src/index.js"
import { exampleImage, KEEPALIVE, runExample, waitRunning, withPods } from "./shared.js"

const env = process.env
const uplink = env.TANK_EXAMPLE_UPLINK
if (!uplink) {
  console.log("macvlan needs a host uplink (an Ethernet interface on a LAN you may add addresses to).")
  console.log("Set TANK_EXAMPLE_UPLINK=<interface> and TANK_EXAMPLE_ADDRESS=<free address/prefix>; skipping.")
  process.exit(0)
}
const address = env.TANK_EXAMPLE_ADDRESS || "10.250.0.5/24"
const gateway = env.TANK_EXAMPLE_GATEWAY || undefined

const nics: Array<typeof Spec.Nic.Encoded> = [
  { name: "eth0", parent: uplink, address, ...(gateway ? { gateway } : {}) }
]
if (env.TANK_EXAMPLE_UPLINK2) {
  nics.push({ name: "eth1", parent: env.TANK_EXAMPLE_UPLINK2, address: env.TANK_EXAMPLE_ADDRESS2 || "10.251.0.5/24" })
}

const program = Effect.gen(function*() {
  console.log(`applying pod "web" with ${nics.map((n) => `${n.name} ${n.address} on ${n.parent}`).join(", ")}`)
  yield* Tank.apply({
    name: "web",
    network: { nics, dns: ["10.0.0.53"] },
    containers: [{ name: "main", image: exampleImage(), command: ["sh", "-c", KEEPALIVE] }]
  })
  const s = yield* waitRunning("web")
  console.log(`web addresses: ${(s.addresses ?? []).join(", ")}`)
  const ip = yield* execCapture("web", ["ip", "-o", "-4", "addr", "show"])
  for (const line of ip.stdout.split("\n").filter(Boolean)) console.log(`  ${line.replace(/\s+/g, " ").trim()}`)
  const resolv = yield* execCapture("web", ["cat", "/etc/resolv.conf"])
  console.log(`/etc/resolv.conf: ${resolv.stdout.trim()}`)
  if (gateway) {
    const ping = yield* execCapture("web", ["ping", "-c", "1", "-W", "2", gateway])
    console.log(`ping ${gateway}: ${ping.exitCode === 0 ? "reachable" : `failed (${ping.stdout.trim()})`}`)
  }
})

runExample(withPods(["web"], program))
