/**
 * Config.loadSync (`tank ps`'s quick path, run without Effect's runtime) resolves exactly what
 * Config.load resolves: the same config, or the same ConfigError, from the same file and environment;
 * the YAML parser is asked for only when there is a file to read.
 */
import { Effect, Either, Exit } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import YAML from "yaml"
import { load, type LoadOptions, loadSync } from "../../src/config/Config.js"

const dirs: Array<string> = []
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})
const home = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "tank-loadsync-"))
  dirs.push(d)
  return d
}

/** Both loaders over the same inputs: the config or the error's fields, and whether YAML was asked for. */
const both = async (overrides: LoadOptions) => {
  const viaEffect = await Effect.runPromiseExit(load(overrides))
  let asked = 0
  const viaSync = loadSync(overrides, () => {
    asked++
    return YAML
  })
  const plain = (e: unknown) => ({ ...(e as object), message: (e as Error).message })
  return {
    effect: Exit.isSuccess(viaEffect)
      ? { ok: viaEffect.value }
      : { error: plain(Exit.isFailure(viaEffect) && viaEffect.cause._tag === "Fail" ? viaEffect.cause.error : null) },
    sync: Either.isRight(viaSync) ? { ok: viaSync.right } : { error: plain(viaSync.left) },
    asked
  }
}

describe("Config.loadSync", () => {
  it("without a config file: load's config, and no YAML parser", async () => {
    const h = home()
    for (const env of [{ HOME: h }, { HOME: h, TANK_DNS: "10.0.0.1, 10.0.0.2", TANK_STOP_PODS_ON_EXIT: "yes" }]) {
      const r = await both({ env, euid: 1000 })
      expect(r.sync).toEqual(r.effect)
      expect(r.sync).toHaveProperty("ok")
      expect(r.asked).toBe(0)
    }
    const r = await both({ env: { HOME: h }, euid: 1000, dataDir: path.join(h, "data") })
    expect(r.sync).toEqual(r.effect)
    expect((r.sync as { ok: { dataDir: string } }).ok.dataDir).toBe(path.join(h, "data"))
  })

  it("with a config file (in the data dir, or $TANK_CONFIG): load's config, the file read through the parser", async () => {
    const h = home()
    const data = path.join(h, "data")
    fs.mkdirSync(data)
    fs.writeFileSync(
      path.join(data, "config.yaml"),
      "node:\n  name: n1\n  labels: { disk: ssd }\nreconciler: { resyncIntervalMs: 1000 }\nstopPodsOnExit: true\n"
    )
    const inDir = await both({ env: { HOME: h }, euid: 1000, dataDir: data })
    expect(inDir.sync).toEqual(inDir.effect)
    expect(inDir.sync).toMatchObject({ ok: { node: { name: "n1" }, stopPodsOnExit: true } })
    expect(inDir.asked).toBe(1)
    const named = await both({ env: { HOME: h, TANK_CONFIG: path.join(data, "config.yaml") }, euid: 1000 })
    expect(named.sync).toEqual(named.effect)
    expect(named.asked).toBe(1)
  })

  it("the same ConfigError for a bad file or a bad environment", async () => {
    const h = home()
    const file = (text: string) => {
      const f = path.join(h, `c-${Math.random().toString(36).slice(2)}.yaml`)
      fs.writeFileSync(f, text)
      return f
    }
    const cases: ReadonlyArray<Record<string, string>> = [
      { TANK_CONFIG: path.join(h, "missing.yaml") },
      { TANK_CONFIG: file("node: [unclosed\n") },
      { TANK_CONFIG: file("bogus: 1\n") },
      { TANK_CONFIG: file("reconciler: { resyncIntervalMs: -1 }\n") },
      { TANK_CONFIG: file("store:\n  etcd: { endpoints: [\"http://10.0.0.1:2379\"] }\n") },
      { TANK_DNS: "10.0.0.300" },
      { TANK_UPLINK: "no such interface name" },
      { TANK_STOP_PODS_ON_EXIT: "maybe" },
      { TANK_ETCD_INSECURE: "maybe" },
      { TANK_ETCD_ENDPOINTS: "http://10.0.0.1:2379" },
      { TANK_ETCD_ENDPOINTS: "not a url" },
      { TANK_NODE_NAME: "Not_A_Label" },
      { TANK_WEB: "nowhere" }
    ]
    for (const env of cases) {
      const r = await both({ env: { HOME: h, ...env }, euid: 1000 })
      expect(r.sync, JSON.stringify(env)).toEqual(r.effect)
      expect(r.sync, JSON.stringify(env)).toHaveProperty("error")
    }
    // Accepted the same way too: etcd over TLS from the environment, plain HTTP when allowed.
    for (
      const env of [{ TANK_ETCD_ENDPOINTS: "https://10.0.0.1:2379" }, {
        TANK_ETCD_ENDPOINTS: "http://10.0.0.1:2379",
        TANK_ETCD_INSECURE: "1"
      }]
    ) {
      const r = await both({ env: { HOME: h, ...env }, euid: 1000 })
      expect(r.sync).toEqual(r.effect)
      expect(r.sync).toHaveProperty("ok.etcd.endpoints")
    }
  })
})
