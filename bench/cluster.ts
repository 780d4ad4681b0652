/**
 * Bench: cluster mode. (1) apply → running for one pod through the whole agent, with the desired
 * state in etcd (one local member; the scheduler binds the pod, the node's view sees it) against the
 * embedded SQLite store, same machine, same cached image. (2) Placement across 3 ready nodes (binding
 * only: nothing runs): 300 pending pods, time until the scheduler has bound them all; and the same
 * 300 applied in one go while the scheduler runs, time until all are bound.
 * Run as root: `npx tsx bench/cluster.ts [pods=300]`.
 */
import { Context, Effect, Fiber, Layer, Logger, LogLevel } from "effect"
import { performance } from "node:perf_hooks"
import * as Agent from "../src/agent/Agent.js"
import * as Api from "../src/api/Api.js"
import { Nodes } from "../src/cluster/Cluster.js"
import * as NodesEtcd from "../src/cluster/nodesEtcd.js"
import { runScheduler } from "../src/cluster/scheduler.js"
import type * as Config from "../src/config/Config.js"
import * as EtcdClient from "../src/etcd/client.js"
import { storeLayer } from "../src/store/fromConfig.js"
import { Store } from "../src/store/Store.js"
import { startEtcd } from "../test/support/etcd.js"
import { tankEnv } from "../test/support/tankEnv.js"
import { fmt, median, report, type Row } from "./report.js"

const placeCount = Number(process.argv[2] ?? 300)
const RUNS = 7

const spec = (image: string, name: string) => ({
  name,
  containers: [{ name: "app", image, command: ["sleep", "3600"] }]
})

const waitFor = <A>(get: Effect.Effect<A, unknown>, pred: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (;;) {
      if (pred(yield* get)) return
      yield* Effect.sleep("5 millis")
    }
  })

/** Median apply → running of one pod (then delete → gone) with an agent over `config`. */
const applyToRunning = (config: Config.TankConfigShape, image: string, tag: string) =>
  Effect.scoped(Effect.gen(function*() {
    const store = Context.get(yield* Layer.build(Agent.layer({ config })), Store)
    const api = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, store)
    const running = (name: string) =>
      waitFor(store.getStatus(name), (s) => s._tag === "Some" && s.value.phase === "running")
    const gone = waitFor(Effect.map(store.listStatus, (l) => l.statuses), (l) => l.length === 0)
    yield* api(Api.apply(spec(image, `warm-${tag}`)))
    yield* running(`warm-${tag}`)
    yield* api(Api.remove(`warm-${tag}`))
    yield* gone
    const times: Array<number> = []
    for (let i = 0; i < RUNS; i++) {
      const name = `one-${tag}-${i}`
      const t0 = performance.now()
      yield* api(Api.apply(spec(image, name)))
      yield* running(name)
      times.push(performance.now() - t0)
      yield* api(Api.remove(name))
      yield* gone
    }
    return median(times)
  }))

const program = Effect.gen(function*() {
  const env = yield* tankEnv()
  const etcd = yield* startEtcd()
  const fast = { ...env.config.reconciler, resyncIntervalMs: 5_000, stopGracePeriodMs: 1_000 }
  const sqliteConfig: Config.TankConfigShape = { ...env.config, reconciler: fast }
  const etcdConfig = (prefix: string, name: string): Config.TankConfigShape => ({
    ...sqliteConfig,
    etcd: { endpoints: etcd.endpoints as [string, ...Array<string>], prefix },
    node: { ...env.config.node, name, leaseTtlSeconds: 5, lostAfterSeconds: 30 }
  })

  // (1) apply → running, SQLite then etcd (the agent lock is free again between them).
  const sqlite = yield* applyToRunning(sqliteConfig, env.refs.busybox, "sqlite")
  const viaEtcd = yield* applyToRunning(etcdConfig("/bench-apply/", "b1"), env.refs.busybox, "etcd")

  // (2) placement: 3 ready nodes (registered from here, each with room for every pod), the scheduler,
  // and `placeCount` pods applied in one go; time until every pod is bound.
  const config = etcdConfig("/bench-place/", "b1")
  const placement = yield* Effect.scoped(Effect.gen(function*() {
    const ctx = yield* Layer.build(
      Layer.merge(storeLayer(config), NodesEtcd.layerEtcd.pipe(Layer.provide(EtcdClient.layer(config.etcd!))))
    )
    const store = Context.get(ctx, Store)
    const nodes = Context.get(ctx, Nodes)
    for (const name of ["b1", "b2", "b3"]) {
      yield* nodes.register({
        name,
        addresses: [],
        capacity: { cpu: 64_000, memory: 256 * 2 ** 30, pods: placeCount },
        labels: {},
        agentPid: process.pid,
        registeredAt: new Date().toISOString()
      }, 30)
    }
    const names = Array.from({ length: placeCount }, (_, i) => `place-${i}`)
    const apply = Effect.provideService(Api.applyAll(names.map((n) => spec(env.refs.busybox, n))), Store, store)
    const allBound = waitFor(
      Effect.map(store.list, (l) => l.pods),
      (pods) => pods.filter((p) => p.node !== null).length === placeCount
    )
    const scheduler = Effect.forkScoped(
      runScheduler({ lostAfterSeconds: 30, self: "b1" }).pipe(
        Effect.provideService(Store, store),
        Effect.provideService(Nodes, nodes)
      )
    )
    // Placement alone: every pod already written, then the scheduler starts and binds them all.
    const t0 = performance.now()
    yield* apply
    const applied = performance.now() - t0
    const t1 = performance.now()
    const fiber = yield* scheduler
    yield* allBound
    const bound = performance.now() - t1
    const perNode = new Map<string, number>()
    for (const p of (yield* store.list).pods) perNode.set(p.node!, (perNode.get(p.node!) ?? 0) + 1)
    yield* Fiber.interrupt(fiber)
    for (const n of names) yield* store.delete(n)
    // End to end: the scheduler running while the pods are applied in one go.
    yield* scheduler
    const t2 = performance.now()
    yield* apply
    yield* allBound
    const endToEnd = performance.now() - t2
    for (const n of names) yield* store.delete(n)
    return { applied, bound, endToEnd, perNode }
  }))

  console.log(`apply → running, one pod: SQLite ${fmt(sqlite)}, etcd ${fmt(viaEtcd)} (median of ${RUNS})`)
  console.log(
    `placement: ${placeCount} pending pods bound by the scheduler in ${fmt(placement.bound)} ` +
      `(${[...placement.perNode].sort().map(([n, c]) => `${n}: ${c}`).join(", ")}); writing them took ` +
      `${fmt(placement.applied)}; applied with the scheduler running, all bound after ${fmt(placement.endToEnd)}`
  )
  const rows: Array<Row> = [
    {
      bench: "cluster",
      case: "apply → running, 1 pod, etcd store",
      tank: viaEtcd,
      peer: "SQLite store",
      peerValue: sqlite
    },
    { bench: "cluster", case: `scheduler binds ${placeCount} pending pods on 3 nodes`, tank: placement.bound },
    { bench: "cluster", case: `apply ${placeCount} pods → all bound (scheduler running)`, tank: placement.endToEnd },
    { bench: "cluster", case: `apply ${placeCount} pods to etcd (writes only)`, tank: placement.applied }
  ]
  report(rows)
})

// The scheduler logs every binding: keep the bench's output to its figures.
Effect.runPromise(Effect.scoped(program).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).catch((e) => {
  console.error(e)
  process.exit(1)
})
