/**
 * Tank's own files are private whatever the umask: the data dir and the image cache 0700 at every
 * entry point (the bundled CLI's `tank pull` and `tank apply`, `Tank.*` in a script, the Images and
 * SQLite layers), the SQLite store and its -wal/-shm 0600. An existing directory is tightened only
 * when it is Tank's; another user's directory, or a loose one that is not Tank's, is refused.
 *
 * Runs as root (the test chowns a directory to another uid). The umask is 022 for the whole file,
 * inherited by the CLI subprocesses, so every file would be group- and world-readable without the fix.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import * as Lock from "../../src/agent/lock.js"
import * as Api from "../../src/api/Api.js"
import { CACHE_DIR_MARKERS, DATA_DIR_MARKERS, ensurePrivateDir, judgeDir } from "../../src/config/privateDir.js"
import { Images, layer as imagesLayer } from "../../src/image/Images.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"
import * as Tank from "../../src/Tank.js"
import { buildCli, runCli } from "../cli/harness.js"
import { pushFixturesEffect } from "../support/fixtureImages.js"
import { startRegistry } from "../support/registry.js"
import { tmpDir } from "../support/tmp.js"

let cli: ReturnType<typeof buildCli>
let umask: number
beforeAll(() => {
  umask = process.umask(0o022)
  cli = buildCli()
})
afterAll(() => {
  cli?.cleanup()
  process.umask(umask)
})

const tank = (dataDir: string, args: ReadonlyArray<string>, input?: string) =>
  Effect.promise(() =>
    runCli(cli.entry, ["--data-dir", dataDir, ...args], {
      ...(input !== undefined ? { input } : {}),
      env: { TANK_CONFIG: "", TANK_ETCD_ENDPOINTS: "" }
    })
  )

const modeOf = (p: string) => fs.statSync(p).mode & 0o7777
const octal = (m: number) => m.toString(8).padStart(4, "0")
const assertMode = (p: string, mode: number) => assert.strictEqual(octal(modeOf(p)), octal(mode), p)

const pod = (name: string) => JSON.stringify({ name, containers: [{ name: "c", image: "127.0.0.1:1/none:latest" }] })

describe("private files (root, umask 022)", () => {
  it.scopedLive(
    "tank pull into a fresh data dir: data dir and image cache 0700; tank apply then: tank.db 0600",
    () =>
      Effect.gen(function*() {
        const registry = yield* startRegistry()
        const refs = yield* pushFixturesEffect(registry.host)
        const base = yield* tmpDir("tank-files-")
        // Two levels that do not exist yet: `pull` creates both, before any agent ever ran.
        const dataDir = path.join(base, "new", "tank")
        const pulled = yield* tank(dataDir, ["pull", refs.busybox])
        assert.strictEqual(pulled.code, 0, pulled.stderr)
        assertMode(path.join(base, "new"), 0o700)
        assertMode(dataDir, 0o700)
        assertMode(path.join(dataDir, "images"), 0o700)

        const applied = yield* tank(dataDir, ["apply", "-f", "-"], pod("web"))
        assert.strictEqual(applied.code, 0, applied.stderr)
        assertMode(path.join(dataDir, "tank.db"), 0o600)
        for (const side of ["tank.db-wal", "tank.db-shm"]) {
          const p = path.join(dataDir, side)
          if (fs.existsSync(p)) assertMode(p, 0o600)
        }
        assertMode(dataDir, 0o700)
      }),
    120_000
  )

  it.scopedLive(
    "tank daemon on a fresh data dir: data dir and image cache 0700, store 0600",
    () =>
      Effect.gen(function*() {
        const base = yield* tmpDir("tank-files-")
        const dataDir = path.join(base, "agent")
        const daemon = yield* Effect.acquireRelease(
          Effect.sync(() => {
            const child = spawn(process.execPath, [cli.entry, "daemon", "--data-dir", dataDir], {
              stdio: ["ignore", "ignore", "pipe"],
              env: { ...process.env, TANK_CONFIG: "", TANK_ETCD_ENDPOINTS: "" }
            })
            let stderr = ""
            child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
            const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
            return { child, exited, stderr: () => stderr }
          }),
          ({ child, exited }) =>
            Effect.promise(async () => {
              if (child.exitCode !== null || child.signalCode !== null) return
              child.kill("SIGTERM")
              const t = setTimeout(() => child.kill("SIGKILL"), 15_000)
              await exited
              clearTimeout(t)
            })
        )
        // The agent takes its lock first, then builds its store and image cache.
        const ready = () =>
          Lock.holder(dataDir) === daemon.child.pid &&
          fs.existsSync(path.join(dataDir, "tank.db")) && fs.existsSync(path.join(dataDir, "images", "tmp"))
        for (let i = 0; i < 300 && !ready() && daemon.child.exitCode === null; i++) yield* Effect.sleep("50 millis")
        assert.isTrue(ready(), daemon.stderr())
        assertMode(dataDir, 0o700)
        assertMode(path.join(dataDir, "images"), 0o700)
        assertMode(path.join(dataDir, "tank.db"), 0o600)
        daemon.child.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => daemon.exited), 0, daemon.stderr())
      }),
    60_000
  )

  it.scoped("the SQLite store, its -wal and -shm are 0600 while open", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir("tank-files-")
      const file = path.join(dir, "tank.db")
      const store = Context.get(yield* Layer.build(layerSqlite(file)), Store)
      yield* Api.apply(JSON.parse(pod("a"))).pipe(Effect.provideService(Store, store))
      // WAL mode: both side files exist while the connection is open.
      for (const f of [file, `${file}-wal`, `${file}-shm`]) assertMode(f, 0o600)
    }))

  it.scoped("Tank.apply in a script creates the data dir 0700 and the store 0600", () =>
    Effect.gen(function*() {
      const base = yield* tmpDir("tank-files-")
      const dataDir = path.join(base, "script")
      const saved = { dir: process.env.TANK_DATA_DIR, config: process.env.TANK_CONFIG }
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const [k, v] of [["TANK_DATA_DIR", saved.dir], ["TANK_CONFIG", saved.config]] as const) {
            if (v === undefined) delete process.env[k]
            else process.env[k] = v
          }
        })
      )
      process.env.TANK_DATA_DIR = dataDir
      process.env.TANK_CONFIG = ""
      yield* Tank.apply({ name: "s", containers: [{ name: "c", image: "127.0.0.1:1/none:latest" }] })
      assertMode(dataDir, 0o700)
      assertMode(path.join(dataDir, "tank.db"), 0o600)
    }))

  it.scoped("the Images layer makes its cache dir 0700 (a library user's own cacheDir too)", () =>
    Effect.gen(function*() {
      const base = yield* tmpDir("tank-files-")
      const cacheDir = path.join(base, "cache", "images")
      yield* Layer.build(imagesLayer({ cacheDir })).pipe(Effect.map((ctx) => Context.get(ctx, Images)))
      assertMode(path.join(base, "cache"), 0o700)
      assertMode(cacheDir, 0o700)
    }))

  it.scoped("an existing loose data dir of Tank's and an older Tank's 0644 store are tightened", () =>
    Effect.gen(function*() {
      const base = yield* tmpDir("tank-files-")
      const dataDir = path.join(base, "old")
      fs.mkdirSync(path.join(dataDir, "images"), { recursive: true })
      fs.chmodSync(dataDir, 0o755)
      fs.chmodSync(path.join(dataDir, "images"), 0o755)
      fs.writeFileSync(path.join(dataDir, "tank.db"), "", { mode: 0o644 })
      fs.chmodSync(path.join(dataDir, "tank.db"), 0o644)
      const applied = yield* tank(dataDir, ["apply", "-f", "-"], pod("web"))
      assert.strictEqual(applied.code, 0, applied.stderr)
      assertMode(dataDir, 0o700)
      assertMode(path.join(dataDir, "tank.db"), 0o600)
      const pulled = yield* tank(dataDir, ["images"])
      assert.strictEqual(pulled.code, 0, pulled.stderr)
      assertMode(path.join(dataDir, "images"), 0o700)
    }))

  it.scoped("a loose directory that is not Tank's is refused and left alone", () =>
    Effect.gen(function*() {
      const dataDir = yield* tmpDir("tank-files-")
      fs.writeFileSync(path.join(dataDir, "notes.txt"), "mine\n")
      fs.chmodSync(dataDir, 0o755)
      for (const args of [["apply", "-f", "-"], ["pull", "127.0.0.1:1/none:latest"]]) {
        const r = yield* tank(dataDir, args, pod("web"))
        assert.strictEqual(r.code, 1, r.stdout)
        assert.include(r.stderr, `${dataDir}: is open to other users (mode 0755) and does not look like Tank's`)
        assert.include(r.stderr, "chmod 700 it, or choose a new or empty directory")
      }
      assertMode(dataDir, 0o755)
      assert.deepStrictEqual(fs.readdirSync(dataDir), ["notes.txt"])
    }))

  it.scoped("a data dir owned by another user is refused, even when it is 0700", () =>
    Effect.gen(function*() {
      const base = yield* tmpDir("tank-files-")
      const dataDir = path.join(base, "theirs")
      fs.mkdirSync(dataDir, { mode: 0o700 })
      fs.chownSync(dataDir, 65534, 65534)
      const r = yield* tank(dataDir, ["apply", "-f", "-"], pod("web"))
      assert.strictEqual(r.code, 1, r.stdout)
      assert.include(r.stderr, `${dataDir}: is owned by uid 65534, not by this user (uid 0)`)
      assert.isFalse(fs.existsSync(path.join(dataDir, "tank.db")))
      const images = yield* Effect.flip(ensurePrivateDir(dataDir, DATA_DIR_MARKERS))
      assert.include(images.reason, "owned by uid 65534")
    }))
})

describe("judgeDir (pure)", () => {
  const dir = (mode: number, uid = 0) => ({ mode: 0o040000 | mode, uid, isDirectory: true })
  it("keeps a private dir, tightens a loose one that is empty or Tank's, refuses the rest", () => {
    assert.deepStrictEqual(judgeDir(dir(0o700), 0, ["x"], DATA_DIR_MARKERS), { _tag: "Ok" })
    assert.deepStrictEqual(judgeDir(dir(0o750), 0, [], DATA_DIR_MARKERS), { _tag: "Tighten" })
    assert.deepStrictEqual(judgeDir(dir(0o755), 0, ["pods.yaml", "tank.db"], DATA_DIR_MARKERS), { _tag: "Tighten" })
    assert.deepStrictEqual(judgeDir(dir(0o711), 0, ["blobs"], CACHE_DIR_MARKERS), { _tag: "Tighten" })
    assert.strictEqual(judgeDir(dir(0o1777), 0, ["a", "b"], DATA_DIR_MARKERS)._tag, "Refuse")
    assert.strictEqual(judgeDir(dir(0o700, 1000), 0, [], DATA_DIR_MARKERS)._tag, "Refuse")
    assert.strictEqual(judgeDir({ ...dir(0o600), isDirectory: false }, 0, [], DATA_DIR_MARKERS)._tag, "Refuse")
  })
})
