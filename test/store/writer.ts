// A separate process writing pods into a shared SQLite store (used by store.test.ts).
import { Effect } from "effect"
import { decodePod } from "../../src/spec/decode.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"

const [file, prefix, count] = process.argv.slice(2)
const program = Effect.gen(function*() {
  const store = yield* Store
  for (let i = 0; i < Number(count); i++) {
    const pod = yield* decodePod({ name: `${prefix}-${i}`, containers: [{ name: "app", image: "busybox" }] })
    yield* store.put(pod)
  }
}).pipe(Effect.provide(layerSqlite(file!)))
Effect.runPromise(program).catch((e) => {
  console.error(String(e))
  process.exit(1)
})
