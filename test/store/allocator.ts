// A separate process allocating addresses (allocations.test.ts): prints "holder address" per allocation.
import { Effect, Layer } from "effect"
import { layer as etcdLayer } from "../../src/etcd/client.js"
import { toInt } from "../../src/net/ipv4.js"
import { Allocations } from "../../src/store/Allocations.js"
import { layerEtcd } from "../../src/store/allocationsEtcd.js"
import { layerSqlite } from "../../src/store/allocationsSql.js"

const [kind, where, ...rest] = process.argv.slice(2)
const [prefix, holderPrefix, count] = kind === "etcd" ? rest : [undefined, ...rest]
const layer: Layer.Layer<Allocations, unknown> = kind === "etcd"
  ? layerEtcd.pipe(Layer.provide(etcdLayer({ endpoints: [where!], insecure: true, prefix: prefix! })))
  : layerSqlite(where!)

const program = Effect.gen(function*() {
  const a = yield* Allocations
  yield* Effect.forEach(
    Array.from({ length: Number(count) }, (_, i) => `${holderPrefix}-${i}`),
    (holder) =>
      a.allocate({ pool: "lan", holder, nic: "eth0", first: toInt("10.1.0.2"), last: toInt("10.1.0.250") }).pipe(
        Effect.tap((x) => Effect.sync(() => process.stdout.write(`${holder} ${x.address}\n`)))
      ),
    { concurrency: 4, discard: true }
  )
}).pipe(Effect.provide(layer))

Effect.runPromise(program).catch((e) => {
  console.error(String(e))
  process.exit(1)
})
