/**
 * Create/stats/remove latency of the live driver on this host (root): `npx tsx test/cgroups/bench.ts`.
 * Not a test (no timing assertions); it belongs in bench/ once the lead wires it there.
 */
import { Effect } from "effect"
import { Cgroups, detect } from "../../src/cgroups/Cgroups.js"
const prog = Effect.gen(function*() {
  const cg = Cgroups.fromDetected(yield* detect())
  const c: Array<number> = [], r: Array<number> = [], s: Array<number> = []
  yield* cg.ensure({ pod: "t-perf-warm", container: "c" })
  for (let i = 0; i < 100; i++) {
    const t0 = performance.now()
    yield* cg.ensure({ pod: `t-perf-${i}`, container: "c" }, {
      memory: 64 << 20,
      pids: 20,
      cpu: { quota: 50000, period: 100000 }
    })
    const t1 = performance.now()
    yield* cg.stats({ pod: `t-perf-${i}`, container: "c" })
    const t2 = performance.now()
    yield* cg.remove({ pod: `t-perf-${i}`, container: "c" }, { force: true })
    const t3 = performance.now()
    c.push(t1 - t0)
    s.push(t2 - t1)
    r.push(t3 - t2)
  }
  yield* cg.remove({ pod: "t-perf-warm" })
  const med = (a: Array<number>) => [...a].sort((x, y) => x - y)[a.length >> 1]!.toFixed(2)
  const p90 = (a: Array<number>) => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.9)]!.toFixed(2)
  console.log(
    `create median ${med(c)} p90 ${p90(c)} | stats ${med(s)} p90 ${p90(s)} | remove ${med(r)} p90 ${p90(r)} ms`
  )
})
Effect.runPromise(prog)
