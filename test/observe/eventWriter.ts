// A separate process appending pod events to a shared SQLite store (used by events.test.ts).
import { Effect } from "effect"
import { layerSqlite } from "../../src/store/sqlite.js"
import type { PodEventType } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"

const [file, pod, ...types] = process.argv.slice(2)
const program = Effect.gen(function*() {
  const store = yield* Store
  for (const [i, type] of types.entries()) {
    yield* store.appendEvent({ at: new Date().toISOString(), pod: pod!, type: type as PodEventType, restarts: i })
  }
}).pipe(Effect.provide(layerSqlite(file!)))
Effect.runPromise(program).catch((e) => {
  console.error(String(e))
  process.exit(1)
})
