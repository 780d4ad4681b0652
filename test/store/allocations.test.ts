/**
 * The Allocations suite on memory, SQLite and etcd, and allocation from several processes at once:
 * 3 processes × 17 allocations on one SQLite file, and on a 3-member etcd, never share an address.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as path from "node:path"
import { promisify } from "node:util"
import { layer as etcdLayer } from "../../src/etcd/client.js"
import { Allocations } from "../../src/store/Allocations.js"
import { layerEtcd } from "../../src/store/allocationsEtcd.js"
import { layerMemory } from "../../src/store/allocationsMemory.js"
import { layerSqlite } from "../../src/store/allocationsSql.js"
import { type EtcdCluster, startEtcdCluster } from "../support/etcd.js"
import { tmpDir } from "../support/tmp.js"
import { allocationsSuite } from "./allocationsSuite.js"

let scope: Scope.CloseableScope
let etcd: EtcdCluster

beforeAll(async () => {
  scope = await Effect.runPromise(Scope.make())
  etcd = await Effect.runPromise(startEtcdCluster(3).pipe(Scope.extend(scope)))
}, 60_000)
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const sqliteFile = Layer.unwrapScoped(
  Effect.map(tmpDir("tank-alloc-"), (dir) => layerSqlite(path.join(dir, "tank.db")))
).pipe(Layer.orDie)

const etcdFresh = Layer.unwrapEffect(Effect.sync(() =>
  layerEtcd.pipe(
    Layer.provide(etcdLayer({
      endpoints: [etcd.endpoints[0]!, ...etcd.endpoints.slice(1)],
      insecure: true,
      prefix: `/t-${randomBytes(4).toString("hex")}/`
    }))
  )
)).pipe(Layer.orDie)

allocationsSuite("memory", layerMemory)
allocationsSuite("sqlite", sqliteFile)
allocationsSuite("etcd, 3 members", etcdFresh, { timeout: 60_000 })

const run = promisify(execFile)
const script = path.join(import.meta.dirname, "allocator.ts")
const root = path.join(import.meta.dirname, "../..")

/** 3 processes at once, 17 allocations each (51), every one printed as "holder address". */
const fromProcesses = (args: (i: number) => ReadonlyArray<string>) =>
  Effect.promise(() =>
    Promise.all(
      [0, 1, 2].map((i) => run(process.execPath, ["--import", "tsx", script, ...args(i)], { cwd: root }))
    )
  ).pipe(Effect.map((outs) => outs.flatMap((o) => o.stdout.trim().split("\n"))))

describe("Allocations from several processes", () => {
  it.scoped(
    "SQLite: 3 processes allocating concurrently never hand out one address twice",
    () =>
      Effect.gen(function*() {
        const dir = yield* tmpDir("tank-alloc-mp-")
        const file = path.join(dir, "tank.db")
        const lines = yield* fromProcesses((i) => ["sqlite", file, `w${i}`, "17"])
        assert.strictEqual(lines.length, 51)
        assert.strictEqual(new Set(lines.map((l) => l.split(" ")[1])).size, 51, lines.join("\n"))
        const listed = yield* Effect.provide(Effect.flatMap(Allocations, (a) => a.list), layerSqlite(file))
        assert.strictEqual(listed.length, 51)
      }),
    120_000
  )

  it.scoped(
    "etcd (3 members, one endpoint each): 3 processes never hand out one address twice",
    () =>
      Effect.gen(function*() {
        const prefix = `/t-${randomBytes(4).toString("hex")}/`
        const lines = yield* fromProcesses((i) => ["etcd", etcd.endpoints[i]!, prefix, `w${i}`, "17"])
        assert.strictEqual(lines.length, 51)
        assert.strictEqual(new Set(lines.map((l) => l.split(" ")[1])).size, 51, lines.join("\n"))
      }),
    120_000
  )
})
