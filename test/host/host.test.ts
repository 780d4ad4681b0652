/**
 * The Host service: `Host.Static`, `Host.FromConfig`, and a user-written Host layer swapped in for them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import * as Config from "../../src/config/Config.js"
import { Host, NoUplink } from "../../src/host/Host.js"
import { tmpDir } from "../support/tmp.js"

/** What the runtime asks of Host when it brings up a `parent: "auto"` NIC in a pod with no dns. */
const hostFacts = Effect.gen(function*() {
  const host = yield* Host
  return { uplink: yield* Effect.either(host.uplink), dns: yield* host.dns }
})

describe("Host.Static", () => {
  it.effect("reads the uplink and the DNS servers it was given", () =>
    Effect.gen(function*() {
      const { dns, uplink } = yield* hostFacts
      assert.deepStrictEqual(uplink, Either.right("enp1s0"))
      assert.deepStrictEqual(dns, ["10.0.0.1", "10.0.0.2"])
    }).pipe(Effect.provide(Host.Static({ uplink: "enp1s0", dns: ["10.0.0.1", "10.0.0.2"] }))))

  for (
    const [what, facts] of [["no uplink", {}], ["an empty uplink", { uplink: "" }], ["a blank uplink", {
      uplink: "  "
    }]] as const
  ) {
    it.effect(`${what} fails with NoUplink saying how to configure one; dns defaults to []`, () =>
      Effect.gen(function*() {
        const { dns, uplink } = yield* hostFacts
        if (Either.isRight(uplink)) return assert.fail(`expected NoUplink, got ${uplink.right}`)
        const err = uplink.left
        assert.instanceOf(err, NoUplink)
        assert.match(err.message, /no uplink for parent "auto".*host\.uplink.*TANK_UPLINK/)
        assert.deepStrictEqual(dns, [])
      }).pipe(Effect.provide(Host.Static(facts))))
  }
})

describe("Host.FromConfig", () => {
  it.scoped("takes the facts from the config file, with env overriding", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const file = path.join(home, "tank.yaml")
      fs.writeFileSync(file, "host:\n  uplink: eth0\n  dns: [10.0.0.1]\n")
      const run = (env: NodeJS.ProcessEnv) =>
        hostFacts.pipe(
          Effect.provide(Host.FromConfig.pipe(Layer.provide(Config.layer({ env: { HOME: home, ...env } }))))
        )
      assert.deepStrictEqual(yield* run({ TANK_CONFIG: file }), { uplink: Either.right("eth0"), dns: ["10.0.0.1"] })
      assert.deepStrictEqual(yield* run({ TANK_CONFIG: file, TANK_UPLINK: "eth1", TANK_DNS: "9.9.9.9" }), {
        uplink: Either.right("eth1"),
        dns: ["9.9.9.9"]
      })
      const unconfigured = yield* run({})
      assert.isTrue(Either.isLeft(unconfigured.uplink))
      assert.deepStrictEqual(unconfigured.dns, [])
    }))

  it.scoped("a bad config fails building the layer with ConfigError", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const err = yield* Effect.flip(
        hostFacts.pipe(
          Effect.provide(Host.FromConfig.pipe(Layer.provide(Config.layer({ env: { HOME: home, TANK_DNS: "1.2.3" } }))))
        )
      )
      assert.strictEqual(err._tag, "ConfigError")
    }))
})

// ---- A user's own Host layer: the uplink is whatever interface holds the default route. ----

/**
 * The interface of the IPv4 default route in a /proc/net/route table: destination and mask 0, RTF_UP
 * set, lowest metric first.
 */
const defaultRouteInterface = (table: string): string | undefined =>
  table
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && f[1] === "00000000" && f[7] === "00000000" && (parseInt(f[3]!, 16) & 0x1) !== 0)
    .sort((a, b) => Number(a[6]) - Number(b[6]))[0]?.[0]

/** IPv4 nameservers of a resolv.conf. */
const nameservers = (text: string): ReadonlyArray<string> =>
  text.split("\n").flatMap((l) => {
    const m = /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(l)
    return m ? [m[1]!] : []
  })

const DefaultRouteHost = (files: { readonly route?: string; readonly resolvConf?: string } = {}): Layer.Layer<Host> =>
  Layer.succeed(Host, {
    uplink: Effect.try({
      try: () => fs.readFileSync(files.route ?? "/proc/net/route", "utf8"),
      catch: (e) => new NoUplink({ reason: `cannot read the route table: ${(e as Error).message}` })
    }).pipe(
      Effect.map(defaultRouteInterface),
      Effect.flatMap((iface) =>
        iface === undefined ? Effect.fail(new NoUplink({ reason: "no IPv4 default route" })) : Effect.succeed(iface)
      )
    ),
    dns: Effect.sync(() => {
      try {
        return nameservers(fs.readFileSync(files.resolvConf ?? "/etc/resolv.conf", "utf8"))
      } catch {
        return []
      }
    })
  })

const ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"

describe("a custom Host layer", () => {
  it("the route-table parser picks the up default route with the lowest metric", () => {
    const table = [
      ROUTE_HEADER,
      "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0",
      "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",
      "down0\t00000000\t010200C0\t0002\t0\t0\t1\t00000000\t0\t0\t0",
      "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0"
    ].join("\n")
    assert.strictEqual(defaultRouteInterface(table), "eth0")
    assert.isUndefined(
      defaultRouteInterface(ROUTE_HEADER + "\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0")
    )
  })

  it.scoped("composed into the same program, it replaces Host.Static (fixture files)", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir()
      const route = path.join(dir, "route")
      const resolvConf = path.join(dir, "resolv.conf")
      fs.writeFileSync(route, `${ROUTE_HEADER}\nbr-lan\t00000000\t010A0A0A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n`)
      fs.writeFileSync(resolvConf, "# generated\nnameserver 10.10.10.1\nnameserver ::1\nsearch lan\n")
      const custom = yield* hostFacts.pipe(Effect.provide(DefaultRouteHost({ route, resolvConf })))
      const fixed = yield* hostFacts.pipe(Effect.provide(Host.Static({ uplink: "eth0" })))
      assert.deepStrictEqual(custom, { uplink: Either.right("br-lan"), dns: ["10.10.10.1"] })
      assert.deepStrictEqual(fixed, { uplink: Either.right("eth0"), dns: [] })

      fs.writeFileSync(route, `${ROUTE_HEADER}\n`)
      const none = yield* hostFacts.pipe(Effect.provide(DefaultRouteHost({ route, resolvConf })))
      assert.match(Either.isLeft(none.uplink) ? none.uplink.left.message : "", /no IPv4 default route/)
    }))

  it.live("on this machine it agrees with `ip route show default`", () =>
    Effect.gen(function*() {
      const { stdout } = yield* Effect.promise(() =>
        promisify(execFile)("ip", ["-4", "-o", "route", "show", "default"])
      )
      const expected = /\bdev (\S+)/.exec(stdout)?.[1]
      const { uplink } = yield* hostFacts.pipe(Effect.provide(DefaultRouteHost()))
      if (expected === undefined) assert.isTrue(Either.isLeft(uplink), "no default route, so NoUplink")
      else assert.deepStrictEqual(uplink, Either.right(expected))
    }))
})
