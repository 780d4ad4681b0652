/**
 * Operational config: defaults ← YAML/JSON file ← environment. Every test passes `env` explicitly and
 * points HOME at a temp dir, so the machine's own environment and ~/.cache never leak in.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ConfigError, defaultDataDir, layer, load, TankConfig } from "../../src/config/Config.js"
import { resolveNetwork } from "../../src/config/network.js"
import { tmpDir } from "../support/tmp.js"

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
  return file
}

/** Every setting the file format has. */
const everyField = `
dataDir: /srv/tank
store:
  sqlite: /var/lib/tank/state.db
node:
  name: n1
  labels: { disk: ssd }
  capacity: { cpu: 4000, memory: 8589934592, pods: 50 }
  leaseTtlSeconds: 5
  lostAfterSeconds: 20
host:
  uplink: enp1s0
  dns: [10.0.0.1, 10.0.0.2]
seed:
  - name: web
    containers: [{ name: app, image: busybox }]
reconciler:
  resyncIntervalMs: 1000
  backoffBaseMs: 200
  backoffCapMs: 5000
  stableWindowMs: 60000
  stopGracePeriodMs: 3000
stopPodsOnExit: true
logs:
  maxFileBytes: 65536
  maxFiles: 3
  keepOnDelete: true
registries:
  "localhost:5000":
    insecure: true
  ghcr.io:
    username: me
    password: secret
    ca: /etc/ssl/ghcr.pem
dockerConfig: /root/.docker/config.json
allowedHostPaths: [/srv/tank/shared]
userNamespaces: { hostUsers: false, range: { start: 1073741824, size: 131072 } }
`

describe("Config.load", () => {
  it.scoped("defaults (not root): data dir under $HOME/.cache, store file in it, no file, empty host facts", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const c = yield* load({ env: { HOME: home }, euid: 1000 })
      assert.deepStrictEqual(c, {
        dataDir: path.join(home, ".cache/tank"),
        storeFile: path.join(home, ".cache/tank/tank.db"),
        etcd: undefined,
        node: {
          name: os.hostname().toLowerCase().split(".")[0]!,
          labels: {},
          capacity: { cpu: os.availableParallelism() * 1000, memory: os.totalmem(), pods: 110 },
          leaseTtlSeconds: 10,
          lostAfterSeconds: 30
        },
        configFile: undefined,
        host: { uplink: undefined, dns: [] },
        network: resolveNetwork(undefined),
        seed: [],
        reconciler: {
          resyncIntervalMs: 5_000,
          backoffBaseMs: 10_000,
          backoffCapMs: 300_000,
          stableWindowMs: 600_000,
          stopGracePeriodMs: 10_000
        },
        stopPodsOnExit: false,
        logs: { maxFileBytes: 10 * 1024 * 1024, maxFiles: 5, keepOnDelete: false },
        registries: {},
        dockerConfig: undefined,
        allowedHostPaths: [],
        userNamespaces: { hostUsers: true, range: undefined }
      })
    }))

  it.scoped("XDG_CACHE_HOME wins over HOME for the default data dir", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const c = yield* load({ env: { HOME: home, XDG_CACHE_HOME: path.join(home, "xdg") }, euid: 1000 })
      assert.strictEqual(c.dataDir, path.join(home, "xdg/tank"))
    }))

  it.scoped("root's default data dir is /var/lib/tank, whatever HOME and XDG_CACHE_HOME say (sudo keeps them)", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const c = yield* load({ env: { HOME: home, XDG_CACHE_HOME: path.join(home, "xdg") }, euid: 0 })
      assert.strictEqual(c.dataDir, "/var/lib/tank")
      assert.strictEqual(c.storeFile, "/var/lib/tank/tank.db")
      assert.strictEqual(defaultDataDir({ HOME: home }, 0), "/var/lib/tank")
      assert.strictEqual(defaultDataDir({ HOME: home }, 1000), path.join(home, ".cache/tank"))
      // TANK_DATA_DIR still wins for root.
      assert.strictEqual(
        (yield* load({ env: { HOME: home, TANK_DATA_DIR: path.join(home, "d") }, euid: 0 })).dataDir,
        path.join(home, "d")
      )
    }))

  it.scoped("TANK_DATA_DIR sets the data dir and store file; the dataDir argument beats it", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const c = yield* load({ env: { HOME: home, TANK_DATA_DIR: path.join(home, "d") } })
      assert.strictEqual(c.dataDir, path.join(home, "d"))
      assert.strictEqual(c.storeFile, path.join(home, "d/tank.db"))
      const o = yield* load({ dataDir: path.join(home, "o"), env: { HOME: home, TANK_DATA_DIR: path.join(home, "d") } })
      assert.strictEqual(o.dataDir, path.join(home, "o"))
    }))

  it.scoped("a YAML file named by TANK_CONFIG sets every field", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const file = write(path.join(home, "etc/tank.yaml"), everyField)
      const c = yield* load({ env: { HOME: home, TANK_CONFIG: file } })
      assert.deepStrictEqual(c, {
        dataDir: "/srv/tank",
        storeFile: "/var/lib/tank/state.db",
        etcd: undefined,
        node: {
          name: "n1",
          labels: { disk: "ssd" },
          capacity: { cpu: 4000, memory: 8589934592, pods: 50 },
          leaseTtlSeconds: 5,
          lostAfterSeconds: 20
        },
        configFile: file,
        host: { uplink: "enp1s0", dns: ["10.0.0.1", "10.0.0.2"] },
        network: resolveNetwork(undefined),
        seed: [{ name: "web", containers: [{ name: "app", image: "busybox" }] }],
        reconciler: {
          resyncIntervalMs: 1000,
          backoffBaseMs: 200,
          backoffCapMs: 5000,
          stableWindowMs: 60000,
          stopGracePeriodMs: 3000
        },
        stopPodsOnExit: true,
        logs: { maxFileBytes: 65536, maxFiles: 3, keepOnDelete: true },
        registries: {
          "localhost:5000": { insecure: true },
          "ghcr.io": { username: "me", password: "secret", ca: "/etc/ssl/ghcr.pem" }
        },
        dockerConfig: "/root/.docker/config.json",
        allowedHostPaths: ["/srv/tank/shared"],
        userNamespaces: { hostUsers: false, range: { start: 1073741824, size: 131072 } }
      })
    }))

  it.scoped("store.etcd selects etcd (prefix default /tank/); TANK_ETCD_ENDPOINTS and TANK_NODE_NAME override", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const file = write(
        path.join(home, "tank.yaml"),
        "store:\n  etcd:\n    endpoints: [http://10.0.0.1:2379]\n    insecure: true\n    auth: { username: u, password: p }\n"
      )
      const c = yield* load({ env: { HOME: home, TANK_CONFIG: file } })
      assert.deepStrictEqual(c.etcd, {
        endpoints: ["http://10.0.0.1:2379"],
        insecure: true,
        prefix: "/tank/",
        auth: { username: "u", password: "p" }
      })
      const e = yield* load({
        env: {
          HOME: home,
          TANK_CONFIG: file,
          TANK_ETCD_ENDPOINTS: "http://127.0.0.1:1,http://127.0.0.1:2",
          TANK_NODE_NAME: "n7"
        }
      })
      assert.deepStrictEqual(e.etcd?.endpoints, ["http://127.0.0.1:1", "http://127.0.0.1:2"])
      assert.deepStrictEqual(e.etcd?.auth, { username: "u", password: "p" })
      assert.strictEqual(e.node.name, "n7")
      const bad = yield* Effect.flip(load({ env: { HOME: home, TANK_ETCD_ENDPOINTS: "127.0.0.1:2379" } }))
      assert.strictEqual(bad.field, "TANK_ETCD_ENDPOINTS")
      expect(bad.message).toContain("not an etcd endpoint")
      const badNode = yield* Effect.flip(load({ env: { HOME: home, TANK_NODE_NAME: "Bad_Name" } }))
      assert.strictEqual(badNode.field, "TANK_NODE_NAME")
      write(file, "node:\n  labels: { \"-bad\": x }\n")
      const badLabel = yield* Effect.flip(load({ env: { HOME: home, TANK_CONFIG: file } }))
      expect(badLabel.message).toContain("node.labels")
      expect(badLabel.message).toContain("label key \"-bad\" must be")
      write(file, "store:\n  etcd:\n    endpoints: []\n")
      const empty = yield* Effect.flip(load({ env: { HOME: home, TANK_CONFIG: file } }))
      expect(empty.message).toContain("store")
    }))

  it.scoped("plain-HTTP etcd endpoints are refused unless insecure: true (file, TANK_ETCD_ENDPOINTS, TANK_ETCD_INSECURE)", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const file = write(
        path.join(home, "tank.yaml"),
        "store:\n  etcd:\n    endpoints: [https://10.0.0.1:2379, http://10.0.0.2:2379]\n"
      )
      const plain = yield* Effect.flip(load({ env: { HOME: home, TANK_CONFIG: file } }))
      assert.strictEqual(plain.field, "store.etcd.endpoints[1]")
      expect(plain.message).toContain(`"http://10.0.0.2:2379" is plain HTTP`)
      expect(plain.message).toContain("insecure: true")
      // Loopback gets no exception: the same config would be copied to a LAN.
      const env = yield* Effect.flip(load({ env: { HOME: home, TANK_ETCD_ENDPOINTS: "http://127.0.0.1:2379" } }))
      assert.strictEqual(env.field, "TANK_ETCD_ENDPOINTS")
      expect(env.message).toContain(`"http://127.0.0.1:2379" is plain HTTP`)
      expect(env.message).toContain("TANK_ETCD_INSECURE=1")
      // https alone needs nothing.
      const tls = yield* load({ env: { HOME: home, TANK_ETCD_ENDPOINTS: "https://10.0.0.1:2379" } })
      assert.deepStrictEqual(tls.etcd?.endpoints, ["https://10.0.0.1:2379"])
      // The opt-ins: in the file, or by env (with env endpoints, or over the file's).
      write(file, "store:\n  etcd:\n    endpoints: [http://10.0.0.2:2379]\n    insecure: true\n")
      assert.isTrue((yield* load({ env: { HOME: home, TANK_CONFIG: file } })).etcd?.insecure)
      const byEnv = yield* load({
        env: { HOME: home, TANK_ETCD_ENDPOINTS: "http://127.0.0.1:2379", TANK_ETCD_INSECURE: "1" }
      })
      assert.deepStrictEqual(byEnv.etcd?.endpoints, ["http://127.0.0.1:2379"])
      write(file, "store:\n  etcd:\n    endpoints: [http://10.0.0.2:2379]\n")
      assert.isTrue((yield* load({ env: { HOME: home, TANK_CONFIG: file, TANK_ETCD_INSECURE: "yes" } })).etcd?.insecure)
      // The environment can also take the file's opt-in back.
      write(file, "store:\n  etcd:\n    endpoints: [http://10.0.0.2:2379]\n    insecure: true\n")
      const revoked = yield* Effect.flip(load({ env: { HOME: home, TANK_CONFIG: file, TANK_ETCD_INSECURE: "0" } }))
      assert.strictEqual(revoked.field, "TANK_ETCD_INSECURE")
      // Without any etcd, TANK_ETCD_INSECURE changes nothing.
      assert.isUndefined((yield* load({ env: { HOME: home, TANK_ETCD_INSECURE: "1" } })).etcd)
    }))

  it.scoped("<dataDir>/config.yaml is read when present (TANK_DATA_DIR and the default data dir)", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const dir = path.join(home, "data")
      const file = write(path.join(dir, "config.yaml"), "host:\n  uplink: eth1\n")
      const c = yield* load({ env: { HOME: home, TANK_DATA_DIR: dir } })
      assert.strictEqual(c.configFile, file)
      assert.strictEqual(c.host.uplink, "eth1")
      // TANK_DATA_DIR outranks the file's own dataDir.
      write(file, `dataDir: ${path.join(home, "elsewhere")}\n`)
      assert.strictEqual((yield* load({ env: { HOME: home, TANK_DATA_DIR: dir } })).dataDir, dir)

      const dflt = write(path.join(home, ".cache/tank/config.yaml"), "stopPodsOnExit: true\n")
      const d = yield* load({ env: { HOME: home }, euid: 1000 })
      assert.strictEqual(d.configFile, dflt)
      assert.isTrue(d.stopPodsOnExit)
    }))

  it.scoped("a JSON file is read too (YAML is a superset)", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const file = write(path.join(home, "tank.json"), JSON.stringify({ host: { dns: ["1.1.1.1"] } }))
      assert.deepStrictEqual((yield* load({ env: { HOME: home, TANK_CONFIG: file } })).host.dns, ["1.1.1.1"])
    }))

  it.scoped("TANK_UPLINK, TANK_DNS and TANK_STOP_PODS_ON_EXIT override the file", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const file = write(
        path.join(home, "c.yaml"),
        "host:\n  uplink: eth0\n  dns: [10.0.0.1]\nstopPodsOnExit: true\n"
      )
      const base = { HOME: home, TANK_CONFIG: file }
      const fromFile = yield* load({ env: base })
      assert.deepStrictEqual([fromFile.host, fromFile.stopPodsOnExit], [{ uplink: "eth0", dns: ["10.0.0.1"] }, true])
      const c = yield* load({
        env: { ...base, TANK_UPLINK: "wlan0", TANK_DNS: "9.9.9.9, 1.1.1.1", TANK_STOP_PODS_ON_EXIT: "false" }
      })
      assert.deepStrictEqual(c.host, { uplink: "wlan0", dns: ["9.9.9.9", "1.1.1.1"] })
      assert.isFalse(c.stopPodsOnExit)
      for (const [v, want] of [["1", true], ["true", true], ["YES", true], ["on", true], ["0", false], ["no", false]]) {
        const r = yield* load({ env: { HOME: home, TANK_STOP_PODS_ON_EXIT: v as string } })
        assert.strictEqual(r.stopPodsOnExit, want, `TANK_STOP_PODS_ON_EXIT=${v}`)
      }
      // Empty env vars count as unset.
      const empty = yield* load({ env: { ...base, TANK_UPLINK: "", TANK_DNS: "", TANK_STOP_PODS_ON_EXIT: "" } })
      assert.deepStrictEqual([empty.host, empty.stopPodsOnExit], [{ uplink: "eth0", dns: ["10.0.0.1"] }, true])
    }))

  it.scoped("Config.layer provides TankConfig", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const c = yield* Effect.provide(TankConfig, layer({ env: { HOME: home, TANK_UPLINK: "eth9" } }))
      assert.strictEqual(c.host.uplink, "eth9")
    }))
})

/** [what is wrong, file text, field named (undefined: none), what the message must say] */
const badFiles: ReadonlyArray<readonly [string, string, string | undefined, RegExp]> = [
  ["an unknown top-level key", "hots:\n  uplink: eth0\n", "hots", /unknown setting/],
  ["an unknown nested key", "host:\n  uplinkk: eth0\n", "host.uplinkk", /unknown setting/],
  [
    "an unknown registry setting",
    "registries:\n  r.io:\n    tls: false\n",
    "registries[\"r.io\"].tls",
    /unknown setting/
  ],
  ["a bad DNS address", "host:\n  dns: [nope]\n", "host.dns[0]", /"nope" is not an IPv4 address/],
  ["a shorthand DNS address", "host:\n  dns: ['127.1']\n", "host.dns[0]", /"127.1" is not an IPv4 address/],
  ["a bad uplink name", "host:\n  uplink: a/b\n", "host.uplink", /not a valid interface name/],
  ["a relative dataDir", "dataDir: data\n", "dataDir", /must be an absolute path/],
  ["a negative interval", "reconciler:\n  backoffBaseMs: -1\n", "reconciler.backoffBaseMs", /milliseconds/],
  ["a non-boolean stopPodsOnExit", "stopPodsOnExit: maybe\n", "stopPodsOnExit", /expected boolean/i],
  ["logs.maxFiles 0", "logs:\n  maxFiles: 0\n", "logs.maxFiles", /between/i],
  ["seed that is not a list", "seed: {name: web}\n", "seed", /expected/i],
  ["a file that is a list", "- a\n", undefined, /must be a mapping of settings/],
  ["a file that is a scalar", "just words\n", undefined, /must be a mapping of settings/],
  ["invalid YAML", "host: [\n", undefined, /not valid YAML\/JSON/],
  ["a duplicate key", "stopPodsOnExit: true\nstopPodsOnExit: false\n", undefined, /not valid YAML\/JSON.*unique/s]
]

describe("Config.load rejects", () => {
  for (const [what, text, field, message] of badFiles) {
    it.scoped(`${what} with a ConfigError naming the file${field ? ` and ${field}` : ""}`, () =>
      Effect.gen(function*() {
        const home = yield* tmpDir()
        const file = write(path.join(home, "tank.yaml"), text)
        const err = yield* Effect.flip(load({ env: { HOME: home, TANK_CONFIG: file } }))
        assert.instanceOf(err, ConfigError)
        assert.strictEqual(err.file, file)
        assert.strictEqual(err.field, field)
        expect(err.reason).toMatch(message)
        // What a user sees printed names the file and the field, without Schema's internal noise.
        expect(String(err)).toContain(file)
        if (field) expect(err.message).toContain(`${field}: `)
        expect(err.message).not.toMatch(/Expected undefined/)
      }))
  }

  it.scoped("every bad field in a file, not just the first", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const file = write(path.join(home, "tank.yaml"), "host:\n  uplink: a/b\n  dns: ['1.2.3']\nbogus: 1\n")
      const err = yield* Effect.flip(load({ env: { HOME: home, TANK_CONFIG: file } }))
      assert.include(["host.uplink", "host.dns[0]", "bogus"], err.field)
      expect(err.message).toMatch(/host\.uplink: [^;]*not a valid interface name/)
      expect(err.message).toMatch(/host\.dns\[0\]: "1\.2\.3" is not an IPv4 address/)
      expect(err.message).toMatch(/bogus: unknown setting/)
    }))

  it.scoped("a TANK_CONFIG file that does not exist", () =>
    Effect.gen(function*() {
      const home = yield* tmpDir()
      const file = path.join(home, "nope.yaml")
      const err = yield* Effect.flip(load({ env: { HOME: home, TANK_CONFIG: file } }))
      assert.strictEqual(err.file, file)
      expect(err.message).toMatch(/cannot read.*ENOENT/)
    }))

  for (
    const [name, value, message] of [
      ["TANK_DNS", "1.2.3.4,nope", /"nope" is not an IPv4 address/],
      ["TANK_UPLINK", "a/b", /not a valid interface name/],
      ["TANK_UPLINK", "an-interface-name-too-long", /not a valid interface name/],
      ["TANK_STOP_PODS_ON_EXIT", "maybe", /expected true\/false/]
    ] as const
  ) {
    it.scoped(`${name}=${value} with a ConfigError naming the variable`, () =>
      Effect.gen(function*() {
        const home = yield* tmpDir()
        const err = yield* Effect.flip(load({ env: { HOME: home, [name]: value } }))
        assert.strictEqual(err.field, name)
        assert.isUndefined(err.file)
        expect(err.message).toMatch(message)
        expect(err.message).toContain(name)
      }))
  }
})
