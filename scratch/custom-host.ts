/**
 * Host facts and a custom Host layer: the agent asks a `Host` service for the uplink that
 * `parent: "auto"` NICs attach to and for the DNS servers pods inherit. `Host.Static` takes them
 * from config; here we compose our own: the interface holding the default route (from
 * /proc/net/route) and DNS servers of our choosing, passed to the agent as `Agent.layer({ host })`.
 *
 *   tsx scratch/custom-host.ts
 *
 * Starts an agent in-process with that Host layer. Image: $TANK_EXAMPLE_IMAGE
 * (default 127.0.0.1:5000/tank/busybox).
 */
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import { execCapture } from "../src/exec/index.js"
import { Host, NoUplink, Tank } from "../src/index.js"
import { exampleImage, KEEPALIVE, runExample, waitRunning, withPods } from "./shared.js"

/** The interface of the default route, read when a NIC asks for it (not at boot). */
const defaultRouteInterface = Effect.try({
  try: () => {
    const rows = fs.readFileSync("/proc/net/route", "utf8").trim().split("\n").slice(1).map((l) => l.split(/\s+/))
    const dflt = rows.find((r) => r[1] === "00000000")
    if (!dflt?.[0]) throw new Error("no default route")
    return dflt[0]
  },
  catch: (e) => new NoUplink({ reason: `default route: ${(e as Error).message}` })
})

/** Our Host: the default route's interface as the uplink, and fixed DNS servers. */
const MyHost = Layer.succeed(Host, {
  uplink: defaultRouteInterface,
  dns: Effect.succeed(["192.0.2.53", "198.51.100.53"])
})

const program = Effect.gen(function*() {
  const host = yield* Host
  const uplink = yield* host.uplink.pipe(Effect.catchAll((e) => Effect.succeed(`none (${e.reason})`)))
  console.log(`custom Host: uplink for parent "auto" = ${uplink}, dns = ${(yield* host.dns).join(", ")}`)

  // No dns in the spec: the pod inherits the Host's servers.
  yield* Tank.apply({
    name: "resolver",
    containers: [{ name: "main", image: exampleImage(), command: ["sh", "-c", KEEPALIVE] }]
  })
  yield* waitRunning("resolver")
  const resolv = yield* execCapture("resolver", ["cat", "/etc/resolv.conf"])
  console.log(`resolver's /etc/resolv.conf:\n${resolv.stdout.trim()}`)
}).pipe(Effect.provide(MyHost))

// The same layer goes to the agent, whose Runtime reads the facts at bring-up.
runExample(withPods(["resolver"], program), { host: MyHost })
