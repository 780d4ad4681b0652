// A separate process listing a SQLite store (used by invalid.test.ts): prints the pods, the invalid
// records, how long the list took and the process's peak RSS.
import { Effect } from "effect"
import { layerSqlite } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"

const [file] = process.argv.slice(2)
const program = Effect.gen(function*() {
  const store = yield* Store
  const t0 = performance.now()
  const { invalid, pods } = yield* store.list
  const ms = Math.round(performance.now() - t0)
  console.log(JSON.stringify({
    ms,
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    pods: pods.map((p) => p.name),
    invalid: invalid.map((r) => r.message)
  }))
}).pipe(Effect.provide(layerSqlite(file!)))
Effect.runPromise(program).catch((e) => {
  console.error(String(e))
  process.exit(1)
})
