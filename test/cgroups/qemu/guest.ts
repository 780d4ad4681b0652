/**
 * Runs inside the qemu guest (a Debian kernel booted with cgroup_no_v1=all, so memory, pids and
 * cpu are on cgroup2): exercises the v2 driver on a real kernel and prints what it observed as
 * one `TANK-RESULT <json>` line. The assertions live in the host-side test (v2.qemu.test.ts).
 * Bundled with esbuild into a single file; not collected by vitest (no .test.ts suffix).
 */
import { Effect, Exit, Scope } from "effect"
import { spawn } from "node:child_process"
import * as nfs from "node:fs"
import { Cgroups, detect } from "../../../src/cgroups/Cgroups.js"

const parked = (script: string) =>
  Effect.sync(() => {
    const child = spawn("sh", ["-c", `read go; ${script}`], { stdio: ["pipe", "ignore", "pipe"] })
    let stderr = ""
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()))
    const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal, stderr }))
    )
    return { pid: child.pid!, go: () => child.stdin!.write("go\n"), exited: Effect.promise(() => exited) }
  })

const read = (p: string) => (nfs.existsSync(p) ? nfs.readFileSync(p, "utf8").trim() : null)

const program = Effect.gen(function*() {
  const obs: Record<string, unknown> = {}
  const detected = yield* detect()
  obs.detected = detected
  const cg = Cgroups.fromDetected(detected)
  obs.controllers = yield* cg.controllers
  const R = "/sys/fs/cgroup"

  // 1. limits, join, stats, the no-internal-processes rule, scoped removal
  const scope = yield* Scope.make()
  const t0 = performance.now()
  const h = yield* cg.create({ pod: "qpod", container: "app" }, {
    memory: 64 << 20,
    pids: 20,
    cpu: { quota: 50_000, period: 100_000 }
  }).pipe(Scope.extend(scope))
  obs.createMs = performance.now() - t0
  obs.files = {
    rootSubtree: read(`${R}/cgroup.subtree_control`),
    tankSubtree: read(`${R}/tank/cgroup.subtree_control`),
    podSubtree: read(`${R}/tank/qpod/cgroup.subtree_control`),
    memoryMax: read(`${R}/tank/qpod/app/memory.max`),
    pidsMax: read(`${R}/tank/qpod/app/pids.max`),
    cpuMax: read(`${R}/tank/qpod/app/cpu.max`)
  }
  obs.procsFiles = h.procsFiles
  const p = yield* parked("exec sleep 30")
  yield* cg.addProcess(h, p.pid)
  p.go()
  yield* Effect.sleep("300 millis")
  obs.procCgroup = read(`/proc/${p.pid}/cgroup`)
  obs.stats = yield* cg.stats(h.path)
  obs.podStats = yield* cg.stats({ pod: "qpod" })
  const podHandle = yield* cg.handle({ pod: "qpod" })
  obs.podJoin = yield* cg.addProcess(podHandle, p.pid).pipe(
    Effect.match({ onFailure: (e) => e.code ?? "?", onSuccess: () => "joined" })
  )
  obs.listed = yield* cg.list
  const t1 = performance.now()
  yield* Scope.close(scope, Exit.void)
  obs.closeMs = performance.now() - t1
  obs.sleepExit = yield* p.exited
  obs.podLeft = nfs.existsSync(`${R}/tank/qpod`)

  // 2. pids limit against a fork loop
  const bomb = yield* Effect.scoped(Effect.gen(function*() {
    const hb = yield* cg.create({ pod: "qbomb", container: "c" }, { pids: 20 })
    const b = yield* parked("for i in $(seq 50); do sleep 5 & done; wait")
    yield* cg.addProcess(hb, b.pid)
    b.go()
    const exit = yield* b.exited
    return { exit, events: read(`${R}/tank/qbomb/c/pids.events`), stats: yield* cg.stats(hb.path) }
  }))
  obs.bomb = { ...bomb, left: nfs.existsSync(`${R}/tank/qbomb`) }

  // 3. memory limit: OOM kill, counted in memory.events
  const oom = yield* Effect.scoped(Effect.gen(function*() {
    const ho = yield* cg.create({ pod: "qoom", container: "c" }, { memory: 32 << 20 })
    const o = yield* parked("exec tail /dev/zero")
    yield* cg.addProcess(ho, o.pid)
    o.go()
    const exit = yield* o.exited.pipe(Effect.timeout("60 seconds"))
    return { exit, stats: yield* cg.stats(ho.path), podStats: yield* cg.stats({ pod: "qoom" }) }
  }))
  obs.oom = { ...oom, left: nfs.existsSync(`${R}/tank/qoom`) }
  obs.finalList = yield* cg.list
  return obs
})

Effect.runPromise(program).then(
  (obs) => console.log(`TANK-RESULT ${JSON.stringify(obs)}`),
  (e) => console.log(`TANK-ERROR ${String(e)} ${JSON.stringify(e)}`)
)
