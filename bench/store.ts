/**
 * Bench: the Store backends. For SQLite (a file, WAL), etcd (one local member) and a 3-member etcd
 * cluster on loopback:
 *   - put → watch latency: a put through one Store instance until a watcher on a *second* instance
 *     (another connection, as the agent is to the CLI) delivers it; median and p95;
 *   - writes/s, one writer putting sequentially;
 *   - writes/s, 16 concurrent writers.
 * Run: `npx tsx bench/store.ts [puts=300]`.
 */
import { Context, Deferred, Effect, Layer, Ref, type Scope, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { layer as etcdLayer } from "../src/etcd/client.js"
import { decodePodEither } from "../src/spec/decode.js"
import type { Pod } from "../src/spec/Pod.js"
import { layerEtcd } from "../src/store/etcd.js"
import { layerSqlite } from "../src/store/sqlite.js"
import { Store, type StoreService } from "../src/store/Store.js"
import { startEtcd, startEtcdCluster } from "../test/support/etcd.js"
import { fmt, median, report, type Row } from "./report.js"

const PUTS = Number(process.argv[2] ?? 300)
const CONCURRENCY = 16

const pod = (name: string): Pod => {
  const r = decodePodEither({ name, containers: [{ name: "app", image: "busybox" }] })
  if (r._tag === "Left") throw r.left
  return r.right
}

const build = (layer: Layer.Layer<Store, unknown>) =>
  Layer.build(layer).pipe(Effect.map((ctx) => Context.get(ctx, Store)), Effect.orDie)

const p95 = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)] ?? NaN

/** Put through `writer`, time until `watcher`'s feed delivers that revision. */
const latency = (writer: StoreService, watcher: StoreService) =>
  Effect.gen(function*() {
    const waiting = yield* Ref.make<{ revision: number; done: Deferred.Deferred<void> } | undefined>(undefined)
    const seen = yield* Ref.make(0)
    yield* watcher.watch().pipe(
      Stream.runForEach((c) =>
        Effect.gen(function*() {
          yield* Ref.set(seen, c.revision)
          const w = yield* Ref.get(waiting)
          if (w && c.revision >= w.revision) yield* Deferred.succeed(w.done, undefined)
        })
      ),
      Effect.forkScoped
    )
    yield* Effect.sleep("300 millis")
    const times: Array<number> = []
    for (let i = 0; i < Math.min(PUTS, 200); i++) {
      const done = yield* Deferred.make<void>()
      const t0 = performance.now()
      const stored = yield* writer.put(pod(`lat-${i}`))
      yield* Ref.set(waiting, { revision: stored.revision, done })
      if ((yield* Ref.get(seen)) < stored.revision) yield* Deferred.await(done)
      times.push(performance.now() - t0)
    }
    return times
  })

const sequential = (store: StoreService) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    for (let i = 0; i < PUTS; i++) yield* store.put(pod(`seq-${i}`))
    return PUTS / ((performance.now() - t0) / 1000)
  })

const concurrent = (store: StoreService) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    yield* Effect.forEach(
      Array.from({ length: CONCURRENCY }, (_, w) => w),
      (w) =>
        Effect.forEach(Array.from({ length: Math.ceil(PUTS / CONCURRENCY) }, (_, i) => i), (i) =>
          store.put(pod(`con-${w}-${i}`)), { discard: true }),
      { concurrency: "unbounded", discard: true }
    )
    return (CONCURRENCY * Math.ceil(PUTS / CONCURRENCY)) / ((performance.now() - t0) / 1000)
  })

const measure = (label: string, make: Effect.Effect<Layer.Layer<Store, unknown>, never, Scope.Scope>) =>
  Effect.scoped(Effect.gen(function*() {
    const writer = yield* build(yield* make)
    const watcher = yield* build(yield* make)
    const lat = yield* latency(writer, watcher)
    const seq = yield* sequential(writer)
    const con = yield* concurrent(writer)
    console.log(
      `${label.padEnd(22)} put→watch median ${fmt(median(lat)).padStart(9)}  p95 ${fmt(p95(lat)).padStart(9)}   ` +
        `sequential ${seq.toFixed(0).padStart(5)} writes/s   ${CONCURRENCY} writers ${
          con.toFixed(0).padStart(5)
        } writes/s`
    )
    return [
      { bench: "store", case: `${label}: put → watch (median)`, tank: median(lat) },
      { bench: "store", case: `${label}: put → watch (p95)`, tank: p95(lat) },
      { bench: "store", case: `${label}: sequential writes`, tank: seq, unit: "writes/s" },
      { bench: "store", case: `${label}: ${CONCURRENCY} concurrent writers`, tank: con, unit: "writes/s" }
    ] satisfies Array<Row>
  }))

const program = Effect.gen(function*() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-store-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
  const file = path.join(dir, "tank.db")
  const rows: Array<Row> = []
  // The SQLite watcher is another connection: it learns of writes through a watch on the file
  // (src/store/sqliteNotify.ts); the poll-only rows show what that replaces.
  rows.push(...yield* measure("sqlite", Effect.succeed(layerSqlite(file))))
  rows.push(
    ...yield* measure(
      "sqlite (poll only, 100 ms)",
      Effect.succeed(layerSqlite(`${file}-2`, { notify: false, pollInterval: "100 millis" }))
    )
  )
  const one = yield* startEtcd()
  const onEtcd = (endpoints: ReadonlyArray<string>, prefix: string) =>
    Effect.succeed(
      layerEtcd().pipe(Layer.provide(etcdLayer({ endpoints: [endpoints[0]!, ...endpoints.slice(1)], prefix })))
    )
  rows.push(...yield* measure("etcd (1 member)", onEtcd(one.endpoints, "/bench1/")))
  const three = yield* startEtcdCluster(3)
  rows.push(...yield* measure("etcd (3 members)", onEtcd(three.endpoints, "/bench3/")))
  console.log()
  report(rows)
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
