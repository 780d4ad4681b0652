/**
 * Host-path volumes must not expose Tank's own files: `/`, the data dir, anything in it, anything
 * above it, and the SQLite store file are refused unless the config lists the exact path in
 * `allowedHostPaths`. Attacked at apply time (Api.apply with a config in context, the bundled CLI)
 * and at bring-up (the live Runtime, with symlinks that point into the data dir).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import * as Api from "../../src/api/Api.js"
import { Cgroups } from "../../src/cgroups/Cgroups.js"
import * as Config from "../../src/config/Config.js"
import { hostPathIssues, hostPathPolicy, hostPathProblem } from "../../src/config/hostPaths.js"
import { Host } from "../../src/host/Host.js"
import * as Images from "../../src/image/Images.js"
import { NetworkLive } from "../../src/net/NetworkLive.js"
import { podLayout } from "../../src/runtime/layout.js"
import { Runtime } from "../../src/runtime/Runtime.js"
import * as RuntimeLive from "../../src/runtime/RuntimeLive.js"
import { decodePod, type InvalidSpec } from "../../src/spec/decode.js"
import { layerMemory } from "../../src/store/memory.js"
import { Store } from "../../src/store/Store.js"
import { buildCli, runCli } from "../cli/harness.js"
import { tmpDir } from "../support/tmp.js"

/** A config for `dataDir` as Config.load makes it, with `allowed` as allowedHostPaths. */
const configFor = (dataDir: string, allowed: ReadonlyArray<string> = []) =>
  Config.load({ dataDir, env: {} }).pipe(Effect.map((c) => ({ ...c, allowedHostPaths: allowed })))

const podWith = (...hosts: ReadonlyArray<string>) => ({
  name: "spy",
  volumes: [{ name: "ok" }, ...hosts.map((host, i) => ({ name: `h${i}`, source: { host } }))],
  containers: [{
    name: "c",
    image: { rootfs: "/" },
    mounts: hosts.map((_, i) => ({ volume: `h${i}`, path: `/mnt/${i}` }))
  }]
})

describe("hostPathProblem (pure)", () => {
  const data = ["/var/lib/tank"]
  const store = ["/srv/db/tank.db"]
  it("refuses /, the data dir, inside it, above it, and the store file's directories", () => {
    assert.include(hostPathProblem("/", data, store), "host's root directory")
    assert.include(hostPathProblem("/var/lib/tank", data, store), "is Tank's data dir")
    assert.include(hostPathProblem("/var/lib/tank/volumes/other/db", data, store), "inside Tank's data dir")
    assert.include(hostPathProblem("/var/lib", data, store), "contains Tank's data dir")
    assert.include(hostPathProblem("/var", data, store), "contains Tank's data dir")
    assert.include(hostPathProblem("/srv/db", data, store), "contains Tank's store file")
    assert.include(hostPathProblem("/srv", data, store), "contains Tank's store file")
  })
  it("allows unrelated paths, siblings sharing a prefix, and other directories beside the store", () => {
    for (const p of ["/etc/app", "/var/lib/tank2", "/var/lib/tanker/x", "/srv/www", "/srv/dbx", "/var/log"]) {
      assert.isUndefined(hostPathProblem(p, data, store), p)
    }
  })
})

describe("apply time: Api.apply with a config in context", () => {
  it.scoped("refuses the data dir and its parent with InvalidSpec issues naming the field and allowedHostPaths", () =>
    Effect.gen(function*() {
      const dataDir = path.join(yield* tmpDir("tank-hp-"), "data")
      const config = yield* configFor(dataDir)
      const store = Context.get(yield* Layer.build(layerMemory), Store)
      const run = <A, E>(eff: Effect.Effect<A, E, Store>) =>
        eff.pipe(Effect.provideService(Store, store), Effect.provideService(Config.TankConfig, config))
      const e = (yield* Effect.flip(run(Api.apply(podWith("/etc", dataDir, path.dirname(dataDir)))))) as InvalidSpec
      assert.strictEqual(e._tag, "InvalidSpec")
      assert.deepStrictEqual(e.issues.map((i) => i.path), ["volumes[2].source.host", "volumes[3].source.host"])
      assert.include(e.issues[0]!.message, `"${dataDir}" is Tank's data dir`)
      assert.include(e.issues[0]!.message, `list "${dataDir}" in allowedHostPaths`)
      assert.include(e.issues[1]!.message, `contains Tank's data dir (${dataDir})`)
      assert.include(e.message, "volumes[2].source.host")
      // "/" and a path inside the data dir, through applyAll: nothing is stored.
      const all = (yield* Effect.flip(run(Api.applyAll([podWith("/"), podWith(`${dataDir}/images`)])))) as InvalidSpec
      assert.deepStrictEqual(all.issues.map((i) => i.path), ["volumes[1].source.host"])
      assert.include(all.issues[0]!.message, `"/" is the host's root directory`)
      assert.isTrue(Option.isNone(yield* store.get("spy")))
    }))

  it.scoped("allowedHostPaths allows exactly the listed path, not what lies under it", () =>
    Effect.gen(function*() {
      const dataDir = path.join(yield* tmpDir("tank-hp-"), "data")
      const shared = `${dataDir}/shared`
      const config = yield* configFor(dataDir, [shared])
      const store = Context.get(yield* Layer.build(layerMemory), Store)
      const run = <A, E>(eff: Effect.Effect<A, E, Store>) =>
        eff.pipe(Effect.provideService(Store, store), Effect.provideService(Config.TankConfig, config))
      const stored = yield* run(Api.apply(podWith(shared, "/srv/app")))
      assert.strictEqual(stored.name, "spy")
      const deeper = (yield* Effect.flip(run(Api.apply(podWith(`${shared}/sub`))))) as InvalidSpec
      assert.deepStrictEqual(deeper.issues.map((i) => i.path), ["volumes[1].source.host"])
    }))

  it.scoped("the store file outside the data dir is protected too; with etcd it is not Tank's", () =>
    Effect.gen(function*() {
      const dataDir = path.join(yield* tmpDir("tank-hp-"), "data")
      const base = yield* configFor(dataDir)
      const pod = yield* decodePod(podWith("/srv/db"))
      const sqlite = { ...base, storeFile: "/srv/db/tank.db" }
      assert.deepStrictEqual(hostPathIssues(pod, hostPathPolicy(sqlite)).map((i) => i.path), ["volumes[1].source.host"])
      const etcd = { ...sqlite, etcd: { endpoints: ["https://10.0.0.1:2379"] as const, prefix: "/tank/" } }
      assert.deepStrictEqual(hostPathIssues(pod, hostPathPolicy(etcd)), [])
    }))
})

describe("apply time: the bundled CLI", () => {
  let cli: ReturnType<typeof buildCli>
  beforeAll(() => {
    cli = buildCli()
  })
  afterAll(() => cli?.cleanup())

  it.scoped(
    "tank apply names the file, the pod and the field, and stores nothing; the config's allow-list works",
    () =>
      Effect.gen(function*() {
        const dataDir = yield* tmpDir("tank-hp-cli-")
        const env = { TANK_CONFIG: "", TANK_ETCD_ENDPOINTS: "" }
        const tank = (args: ReadonlyArray<string>, input: string) =>
          Effect.promise(() => runCli(cli.entry, ["--data-dir", dataDir, ...args], { input, env }))
        const refused = yield* tank(["apply", "-f", "-"], JSON.stringify(podWith(path.join(dataDir, "images"))))
        assert.strictEqual(refused.code, 1, refused.stdout)
        assert.include(refused.stderr, `pod "spy": invalid pod spec`)
        assert.include(refused.stderr, `volumes[1].source.host: "${dataDir}/images" is inside Tank's data dir`)
        assert.include(refused.stderr, "allowedHostPaths")
        assert.include(refused.stderr, "nothing was applied")
        fs.writeFileSync(path.join(dataDir, "config.yaml"), `allowedHostPaths: [${dataDir}/images]\n`)
        const allowed = yield* tank(["apply", "-f", "-"], JSON.stringify(podWith(path.join(dataDir, "images"))))
        assert.strictEqual(allowed.code, 0, allowed.stderr)
      }),
    60_000
  )
})

describe("bring-up: the live Runtime on the agent's config (root)", () => {
  const runtimeFor = (config: Config.TankConfigShape) =>
    Layer.build(
      RuntimeLive.layer().pipe(
        Layer.provide(Layer.mergeAll(
          Layer.succeed(Config.TankConfig, config),
          Host.Static({ dns: ["10.0.0.1"] }),
          Images.layerStatic({}),
          Cgroups.layer,
          NetworkLive
        ))
      )
    ).pipe(Effect.map((ctx) => Context.get(ctx, Runtime)))

  it.scoped(
    "a symlink into the data dir is resolved and refused; nothing of the run is left",
    () =>
      Effect.gen(function*() {
        const base = yield* tmpDir("tank-hp-up-")
        const dataDir = path.join(base, "data")
        fs.mkdirSync(path.join(dataDir, "volumes", "victim", "secrets"), { recursive: true, mode: 0o700 })
        fs.symlinkSync(dataDir, path.join(base, "link"))
        fs.symlinkSync(path.join(dataDir, "volumes", "victim"), path.join(base, "link2"))
        const runtime = yield* runtimeFor(yield* configFor(dataDir))
        for (const [host, problem] of [["link", "is Tank's data dir"], ["link2", "is inside Tank's data dir"]]) {
          const pod = yield* decodePod(podWith(path.join(base, host!)))
          const failed = yield* Effect.flip(Effect.scoped(runtime.start(pod)))
          assert.strictEqual(failed.step, "volumes")
          assert.include(failed.message, `host path "${path.join(base, host!)}" (resolves to "`)
          assert.include(failed.message, problem!)
          assert.include(failed.message, "allowedHostPaths")
        }
        assert.isFalse(fs.existsSync(podLayout(dataDir, "spy").run))
      }),
    30_000
  )

  it.scoped("an allowed path resolves to the same directory through a symlink and passes the check", () =>
    Effect.gen(function*() {
      const base = yield* tmpDir("tank-hp-up-")
      const dataDir = path.join(base, "data")
      const shared = path.join(dataDir, "shared")
      fs.mkdirSync(shared, { recursive: true })
      fs.symlinkSync(shared, path.join(base, "link"))
      const { volumeSources } = yield* Effect.promise(() => import("../../src/runtime/prepare.js"))
      const { podLayout } = yield* Effect.promise(() => import("../../src/runtime/layout.js"))
      const pod = yield* decodePod(podWith(path.join(base, "link")))
      const allowed = yield* configFor(dataDir, [shared])
      const sources = yield* volumeSources(pod, podLayout(dataDir, pod.name), hostPathPolicy(allowed))
      // The resolved directory is what gets mounted, so a later swap of the link changes nothing.
      assert.strictEqual(sources.get("h0"), fs.realpathSync(shared))
      const refused = yield* Effect.flip(
        volumeSources(pod, podLayout(dataDir, pod.name), hostPathPolicy(yield* configFor(dataDir)))
      )
      assert.include(refused.message, "is inside Tank's data dir")
    }))
})
