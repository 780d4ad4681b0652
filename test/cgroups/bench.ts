/**
 * Create/stats/remove latency of the live driver on this host (root): `npx tsx test/cgroups/bench.ts`.
 * Also the cost of the device allow list: v1 writes (a new group, and a re-apply, which reads
 * devices.list and writes nothing), and on this hybrid host's cgroup2 mount one
 * `tank-helper cgroup-devices` run (the v2 driver's port: spawn + BPF load + attach + detach).
 * Not a test (no timing assertions); it belongs in bench/ once the lead wires it there.
 */
import { Effect } from "effect"
import * as nfs from "node:fs"
import { Cgroups, DEFAULT_DEVICE_RULES, detect, helperDeviceAttacher } from "../../src/cgroups/Cgroups.js"

const med = (a: Array<number>) => [...a].sort((x, y) => x - y)[a.length >> 1]!.toFixed(2)
const p90 = (a: Array<number>) => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.9)]!.toFixed(2)
const fig = (a: Array<number>) => `median ${med(a)} p90 ${p90(a)}`
const timed = <A, E>(out: Array<number>, e: Effect.Effect<A, E>) =>
  Effect.suspend(() => {
    const t0 = performance.now()
    return e.pipe(Effect.tap(() => Effect.sync(() => out.push(performance.now() - t0))))
  })

const LIMITS = { memory: 64 << 20, pids: 20, cpu: { quota: 50000, period: 100000 } }

const prog = Effect.gen(function*() {
  const cg = Cgroups.fromDetected(yield* detect())
  const c: Array<number> = [], r: Array<number> = [], s: Array<number> = []
  const cd: Array<number> = [], again: Array<number> = []
  yield* cg.ensure({ pod: "t-perf-warm", container: "c" })
  for (let i = 0; i < 100; i++) {
    const path = { pod: `t-perf-${i}`, container: "c" }
    yield* timed(c, cg.ensure(path, LIMITS))
    yield* timed(s, cg.stats(path))
    yield* timed(r, cg.remove(path, { force: true }))
  }
  for (let i = 0; i < 100; i++) {
    const path = { pod: `t-perf-d${i}`, container: "c" }
    yield* timed(cd, cg.ensure(path, { ...LIMITS, devices: DEFAULT_DEVICE_RULES }))
    yield* timed(again, cg.ensure(path, { ...LIMITS, devices: DEFAULT_DEVICE_RULES }))
    yield* cg.remove(path, { force: true })
  }
  yield* cg.remove({ pod: "t-perf-warm" })
  console.log(`${cg.driver} create ${fig(c)} | stats ${fig(s)} | remove ${fig(r)} ms`)
  console.log(`${cg.driver} create with default device rules ${fig(cd)} | ensure again (re-apply) ${fig(again)} ms`)

  // v2's device port, on this hybrid host's cgroup2 mount when there is one
  const unified = "/sys/fs/cgroup/unified"
  if (nfs.existsSync(`${unified}/cgroup.procs`)) {
    const dir = `${unified}/tank-perf-${process.pid}`
    nfs.mkdirSync(dir)
    const attach = helperDeviceAttacher()
    const a: Array<number> = []
    yield* Effect.ensuring(
      Effect.forEach(Array.from({ length: 50 }), () => timed(a, attach(dir, DEFAULT_DEVICE_RULES)), { discard: true }),
      Effect.sync(() => nfs.rmdirSync(dir))
    )
    console.log(`v2 device program (tank-helper cgroup-devices, default rules) ${fig(a)} ms`)
  }
})
Effect.runPromise(prog)
