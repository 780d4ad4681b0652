/**
 * Bench: the agent's main thread's CPU to empty the run dirs' trash (src/runtime/trash.ts), the old
 * way (`removeRunDir`, Node's fs.promises.rm, 4 at a time, as trash.ts did before trashWorker.ts)
 * against the worker (`makeTrashRemover`), interleaved round by round. Each round discards `batch`
 * run dirs shaped like a real one (~30 entries: ns pins, /etc files, a container's overlay dirs,
 * the journal) and empties them. Prints medians per run dir; asserts nothing.
 * `npx tsx bench/trash.ts [rounds=20] [batch=8]`
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { removeRunDir } from "../src/runtime/trash.js"
import { makeTrashRemover } from "../src/runtime/trashWorker.js"
import { median } from "./report.js"

const [rounds = 20, batch = 8] = process.argv.slice(2).map(Number)

/** The main thread's CPU time (ms), the scheduler's count (process.cpuUsage adds the worker). */
const mainThreadCpu = () =>
  Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1e6

const makeRun = (trash: string, name: string) => {
  const run = path.join(trash, name)
  const dirs = [
    "ns",
    "etc",
    "sockets",
    "c/app/upper/bin",
    "c/app/upper/etc",
    "c/app/work/work",
    "c/app/merged",
    "c/app/logs"
  ]
  for (const d of dirs) fs.mkdirSync(path.join(run, d), { recursive: true })
  for (const f of ["ns/net", "ns/ipc", "ns/uts", "ns/mnt", "etc/hosts", "etc/hostname", "etc/resolv.conf"]) {
    fs.writeFileSync(path.join(run, f), "")
  }
  for (
    const f of ["etc/passwd", "etc/group", "pod.json", "c/app/logs/0.log", "c/app/upper/bin/x", "c/app/upper/etc/y"]
  ) {
    fs.writeFileSync(path.join(run, f), "x\n")
  }
  for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(run, "sockets", `m${i}`), "")
}

const program = Effect.gen(function*() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-trash-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(root, { recursive: true, force: true })))
  const trash = path.join(root, "trash")
  const remover = yield* makeTrashRemover()
  const fill = () => {
    fs.mkdirSync(trash, { recursive: true })
    for (let i = 0; i < batch; i++) makeRun(trash, `p${i}`)
  }
  const old = Effect.suspend(() =>
    Effect.forEach(fs.readdirSync(trash), (n) => removeRunDir(path.join(trash, n)), { concurrency: 4, discard: true })
  )
  const worker = remover.empty(trash).pipe(Effect.orDie)
  const cpu = { old: [] as Array<number>, worker: [] as Array<number> }
  const wall = { old: [] as Array<number>, worker: [] as Array<number> }
  for (let r = -1; r < rounds; r++) {
    for (const [which, empty] of [["old", old], ["worker", worker]] as const) {
      fill()
      const c0 = mainThreadCpu()
      const t0 = performance.now()
      yield* empty
      const t = performance.now() - t0
      const c = mainThreadCpu() - c0
      if (fs.readdirSync(trash).length > 0) throw new Error(`${which} left the trash`)
      if (r >= 0) { // round -1 warms both (the worker's start, the modules' JIT)
        cpu[which].push(c / batch)
        wall[which].push(t / batch)
      }
    }
  }
  const f = (x: number) => x.toFixed(3)
  console.log(
    `trash emptying, ${rounds} rounds of ${batch} run dirs, per run dir (medians), load ${os.loadavg()[0]!.toFixed(1)}`
  )
  console.log(
    `  main thread CPU  old ${f(median(cpu.old))} ms  worker ${f(median(cpu.worker))} ms  (${
      (median(cpu.worker) / median(cpu.old)).toFixed(2)
    }x)`
  )
  console.log(`  wall             old ${f(median(wall.old))} ms  worker ${f(median(wall.worker))} ms`)
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
