/** The `network:` config: pools checked across each other, defaults filled, a default bridge pool. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { load } from "../../src/config/Config.js"
import { tmpDir } from "../support/tmp.js"

const withFile = (yaml: string) =>
  Effect.gen(function*() {
    const dir = yield* tmpDir()
    const file = path.join(dir, "config.yaml")
    fs.writeFileSync(file, yaml)
    return yield* load({ env: { TANK_CONFIG: file, TANK_DATA_DIR: dir } })
  })

describe("config: network", () => {
  it.scoped("no network section: the default bridge pool 10.88.0.0/16 on tankbr0, DNS on port 53, tank.internal", () =>
    Effect.gen(function*() {
      const c = yield* withFile("{}")
      assert.strictEqual(c.network.domain, "tank.internal")
      assert.deepStrictEqual(c.network.dns, { enabled: true, port: 53 })
      assert.strictEqual(c.network.probeMs, 300)
      assert.deepStrictEqual(c.network.pools.map((p) => [p.name, p.kind, p.subnet, p.gateway, p.bridge]), [
        ["default", "bridge", "10.88.0.0/16", "10.88.0.1", "tankbr0"]
      ])
    }))

  it.scoped("pools: range, reserved, shim defaults; a configured bridge pool replaces the default", () =>
    Effect.gen(function*() {
      const c = yield* withFile(`
network:
  domain: lab.example
  pools:
    - { name: lan, subnet: 10.0.0.0/24, gateway: 10.0.0.1, range: 10.0.0.100-10.0.0.199, dns: [10.0.0.1],
        reserved: [10.0.0.150], shim: true }
    - { name: br, subnet: 172.30.0.0/24, bridge: tb0 }
`)
      const [lan, br] = c.network.pools
      assert.strictEqual(c.network.pools.length, 2)
      assert.deepInclude(lan, {
        kind: "macvlan",
        prefix: 24,
        parent: "auto",
        shim: { name: "tank0" },
        dns: ["10.0.0.1"]
      })
      assert.strictEqual(lan!.last - lan!.first, 99)
      assert.deepInclude(br, { kind: "bridge", gateway: "172.30.0.1", bridge: "tb0" })
      assert.strictEqual(c.network.domain, "lab.example")
    }))

  it.scoped("refuses overlapping subnets, duplicate names, addresses outside the subnet, naming the setting", () =>
    Effect.gen(function*() {
      const bad = (yaml: string) => Effect.flip(withFile(yaml))
      const overlap = yield* bad(
        `network: { pools: [{ name: a, subnet: 10.0.0.0/16 }, { name: b, subnet: 10.0.5.0/24 }] }`
      )
      assert.include(overlap.message, "network.pools[1].subnet")
      assert.include(overlap.message, `overlaps pool "a"`)
      const dup = yield* bad(`network: { pools: [{ name: a, subnet: 10.0.0.0/24 }, { name: a, subnet: 10.1.0.0/24 }] }`)
      assert.include(dup.message, `duplicate pool name "a"`)
      const gw = yield* bad(`network: { pools: [{ name: a, subnet: 10.0.0.0/24, gateway: 10.0.1.1 }] }`)
      assert.include(gw.message, "network.pools[0].gateway: 10.0.1.1 is outside 10.0.0.0/24")
      const range = yield* bad(`network: { pools: [{ name: a, subnet: 10.0.0.0/24, range: 10.0.0.9-10.0.0.2 }] }`)
      assert.include(range.message, "ends before it starts")
      const shim = yield* bad(`network: { pools: [{ name: a, subnet: 10.0.0.0/24, bridge: b0, shim: true }] }`)
      assert.include(shim.message, "a shim is for macvlan pools")
    }))
})
