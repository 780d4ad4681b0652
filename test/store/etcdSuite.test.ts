// The shared Store suite on a real etcd (one member for the whole file; each test its own prefix).
import { afterAll, beforeAll } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { randomBytes } from "node:crypto"
import { layer as etcdLayer } from "../../src/etcd/client.js"
import { layerEtcd } from "../../src/store/etcd.js"
import { type EtcdCluster, startEtcd } from "../support/etcd.js"
import { storeSuite } from "./suite.js"

let scope: Scope.CloseableScope
let etcd: EtcdCluster

beforeAll(async () => {
  scope = await Effect.runPromise(Scope.make())
  etcd = await Effect.runPromise(startEtcd().pipe(Scope.extend(scope)))
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

/** A fresh keyspace per test on the shared server. */
const fresh = Layer.unwrapEffect(Effect.sync(() =>
  layerEtcd().pipe(
    Layer.provide(etcdLayer({ endpoints: [etcd.endpoints[0]!], prefix: `/t-${randomBytes(4).toString("hex")}/` }))
  )
)).pipe(Layer.orDie)

storeSuite("etcd", fresh, { live: true })
