/**
 * What an agent registers about its machine (pure parts of src/agent/cluster.ts).
 */
import { Effect } from "effect"
import type * as os from "node:os"
import { describe, expect, it } from "vitest"
import { hostAddresses, nodeInfo } from "../../src/agent/cluster.js"
import * as Config from "../../src/config/Config.js"

const addr = (address: string, family: "IPv4" | "IPv6", internal = false) =>
  ({ address, family, internal, netmask: "", mac: "", cidr: null }) as os.NetworkInterfaceInfo

describe("node registration info", () => {
  it("host addresses: no loopback, no link-local IPv6, IPv4 first", () => {
    expect(hostAddresses({
      lo: [addr("127.0.0.1", "IPv4", true), addr("::1", "IPv6", true)],
      eth0: [addr("fe80::1", "IPv6"), addr("2001:db8::5", "IPv6"), addr("10.0.0.5", "IPv4")],
      eth1: [addr("192.168.1.9", "IPv4")],
      down: undefined
    })).toEqual(["10.0.0.5", "192.168.1.9", "2001:db8::5"])
  })

  it("name, labels, capacity from the config; this process's pid", () => {
    const config = Effect.runSync(Config.load({ env: { TANK_NODE_NAME: "web-1", TANK_DATA_DIR: "/nonexistent" } }))
    const info = nodeInfo(
      { ...config, node: { ...config.node, labels: { zone: "a" }, capacity: { cpu: 1500, memory: 1024, pods: 3 } } },
      new Date("2026-11-23T12:00:00Z")
    )
    expect(info).toMatchObject({
      name: "web-1",
      labels: { zone: "a" },
      capacity: { cpu: 1500, memory: 1024, pods: 3 },
      agentPid: process.pid,
      registeredAt: "2026-11-23T12:00:00.000Z"
    })
  })
})
