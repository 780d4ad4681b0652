// storeLayer picks the backend from the configuration: the SQLite file, or etcd when store.etcd is set.
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { TankConfigShape } from "../../src/config/Config.js"
import { storeFromConfig, storeLayer } from "../../src/store/fromConfig.js"
import { sqliteClientLayer } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"
import { startEtcd } from "../support/etcd.js"
import { tmpDir } from "../support/tmp.js"
import { etcdctl, freshPrefix } from "./etcdHelpers.js"
import { pod } from "./suite.js"

// Only the store fields matter to storeLayer.
const config = (storeFile: string, etcd: TankConfigShape["etcd"]) => ({ storeFile, etcd }) as TankConfigShape

const storeOf = (layer: Layer.Layer<Store, unknown>) =>
  Layer.build(layer).pipe(Effect.map((ctx) => Context.get(ctx, Store)), Effect.orDie)

describe("storeLayer", () => {
  it.scopedLive("without store.etcd: the SQLite file", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tmpDir("tank-fromconfig-"), "tank.db")
      const store = yield* storeOf(storeLayer(config(file, undefined)))
      yield* store.put(pod("web"))
      assert.isTrue(fs.existsSync(file))
      assert.isTrue(Option.isSome(yield* store.get("web")))
    }))

  it.scopedLive("with store.etcd: etcd under the prefix, and no SQLite file", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tmpDir("tank-fromconfig-"), "tank.db")
      const etcd = yield* startEtcd()
      const prefix = freshPrefix()
      const store = yield* storeOf(storeLayer(config(file, { endpoints: [etcd.endpoints[0]!], prefix })))
      yield* store.put(pod("web"))
      assert.isFalse(fs.existsSync(file))
      const keys = yield* etcdctl(etcd.endpoints, "get", "--prefix", "--keys-only", prefix)
      assert.deepStrictEqual(keys.split("\n").filter(Boolean), [`${prefix}pods/web`])
    }), { timeout: 20_000 })
})

describe("storeFromConfig (clients: Tank.*, the CLI)", () => {
  it.scopedLive("SQLite: the data dir is made private first; a read-only command on no store gets an empty one, creating nothing", () =>
    Effect.gen(function*() {
      const dataDir = path.join(yield* tmpDir("tank-fromconfig-"), "data")
      const c = { dataDir, storeFile: path.join(dataDir, "tank.db"), etcd: undefined } as TankConfigShape
      const empty = yield* storeOf(storeFromConfig(c, { readOnly: true }))
      assert.deepStrictEqual((yield* empty.list).pods, [])
      assert.isFalse(fs.existsSync(dataDir), "a read-only command creates nothing")
      const store = yield* storeOf(storeFromConfig(c))
      yield* store.put(pod("web"))
      assert.strictEqual(fs.statSync(dataDir).mode & 0o777, 0o700)
      assert.isTrue(fs.existsSync(c.storeFile))
      const reader = yield* storeOf(storeFromConfig(c, { readOnly: true }))
      assert.isTrue(Option.isSome(yield* reader.get("web")), "read-only on an existing store reads it")
    }))

  it.scopedLive("connection: the store is built on the caller's shared SQLite connection (the agent's)", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir("tank-fromconfig-")
      const c = { dataDir: dir, storeFile: path.join(dir, "tank.db"), etcd: undefined } as TankConfigShape
      const shared = path.join(dir, "shared.db")
      const store = yield* storeOf(storeFromConfig(c, { connection: { sqlite: sqliteClientLayer(shared) } }))
      yield* store.put(pod("web"))
      assert.isFalse(fs.existsSync(c.storeFile), "no second connection opened on the config's file")
      const other = yield* storeOf(storeLayer({ ...c, storeFile: shared }))
      assert.isTrue(Option.isSome(yield* other.get("web")), "the write went through the given connection")
    }))
})
