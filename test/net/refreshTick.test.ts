/**
 * The DNS records' refresh tick (src/net/PodNetworksLive.ts): on one node this agent is the only
 * writer of addresses, so an idle tick reads the store's revision and reads every pod and allocation
 * only once it moved; in a cluster, where other nodes allocate, every tick reads them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, TestClock } from "effect"
import * as os from "node:os"
import * as Config from "../../src/config/Config.js"
import { Host } from "../../src/host/Host.js"
import { makeRecording } from "../../src/net/NetworkTest.js"
import * as PodNetworksLive from "../../src/net/PodNetworksLive.js"
import { decodePod } from "../../src/spec/decode.js"
import { layerMemory as allocationsMemory } from "../../src/store/allocationsMemory.js"
import * as StoreMemory from "../../src/store/memory.js"
import { Store } from "../../src/store/Store.js"

/** The in-memory store, counting whole reads of the pods. */
const countingStore = (reads: { n: number }) =>
  Layer.effect(
    Store,
    Effect.map(
      StoreMemory.make,
      (s) => Store.of({ ...s, list: Effect.tap(s.list, () => Effect.sync(() => reads.n++)) })
    )
  )

const agentIn = (cluster: boolean, reads: { n: number }) =>
  Effect.gen(function*() {
    const base = yield* Config.load({ dataDir: os.tmpdir(), env: {} })
    const config: Config.TankConfigShape = {
      ...base,
      // No DNS server (it would listen on the host): the records are built all the same.
      network: { ...base.network, dns: { ...base.network.dns, enabled: false } },
      ...(cluster ? { etcd: { endpoints: ["https://127.0.0.1:2379"], prefix: "/tank" } } : {})
    }
    const ctx = yield* Layer.build(
      PodNetworksLive.layer({ refreshInterval: "2 seconds" }).pipe(
        Layer.provideMerge(countingStore(reads)),
        Layer.provide([
          allocationsMemory,
          makeRecording().layer,
          Host.Static({ uplink: "eth0", dns: [] }),
          Layer.succeed(Config.TankConfig, config)
        ])
      )
    )
    return Context.get(ctx, Store)
  })

describe("DNS records' refresh tick", () => {
  it.scoped("one node: idle ticks do not read the pods; a write moves the revision and the next tick reads", () =>
    Effect.gen(function*() {
      const reads = { n: 0 }
      const store = yield* agentIn(false, reads)
      yield* TestClock.adjust("2 seconds") // the first tick builds the records at the store's revision
      const settled = reads.n
      yield* TestClock.adjust("20 seconds")
      assert.strictEqual(reads.n, settled, "ten idle ticks read no pod")
      yield* store.put(yield* decodePod({ name: "web", containers: [{ name: "app", image: "busybox" }] }))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(reads.n, settled + 1, "the tick after a write reads once")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(reads.n, settled + 1)
    }))

  it.scoped("cluster: every tick reads (other nodes allocate without this store's revision moving)", () =>
    Effect.gen(function*() {
      const reads = { n: 0 }
      yield* agentIn(true, reads)
      yield* TestClock.adjust("2 seconds")
      const settled = reads.n
      yield* TestClock.adjust("20 seconds")
      assert.strictEqual(reads.n, settled + 10)
    }))
})
