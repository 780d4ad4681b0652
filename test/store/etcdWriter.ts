// A separate process writing to an etcd Store (used by etcd.test.ts): `count` puts of its own pods,
// then a create-if-absent race on `count` shared names; prints how many of those creates it won.
import { Effect, Layer } from "effect"
import { layer as etcdLayer } from "../../src/etcd/client.js"
import { decodePod } from "../../src/spec/decode.js"
import { layerEtcd } from "../../src/store/etcd.js"
import { Store } from "../../src/store/Store.js"

const [endpoints, prefix, name, count] = process.argv.slice(2)
const program = Effect.gen(function*() {
  const store = yield* Store
  for (let i = 0; i < Number(count); i++) {
    yield* store.put(yield* decodePod({ name: `${name}-${i}`, containers: [{ name: "app", image: "busybox" }] }))
  }
  let won = 0
  for (let i = 0; i < Number(count); i++) {
    const pod = yield* decodePod({ name: `shared-${i}`, containers: [{ name: name!, image: "busybox" }] })
    const r = yield* Effect.either(store.create(pod))
    if (r._tag === "Right") won++
    else if (r.left._tag !== "AlreadyExists") return yield* r.left
  }
  console.log(`won ${won}`)
}).pipe(
  Effect.provide(
    layerEtcd().pipe(
      Layer.provide(etcdLayer({ endpoints: endpoints!.split(",") as [string, ...Array<string>], prefix: prefix! }))
    )
  )
)
Effect.runPromise(program).catch((e) => {
  console.error(String(e))
  process.exit(1)
})
