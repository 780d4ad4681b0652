/**
 * The v1 driver for real on this machine (root, v1/v2 hybrid): limits in the kernel's files,
 * real processes joined, accounted and limited (pids stops a fork loop, memory gets a process
 * OOM-killed and counted, the CFS quota throttles), and nothing left under
 * /sys/fs/cgroup/<controller>/tank/<pod> afterwards — checked independently of the driver, and
 * cleaned up independently too if a test fails half-way.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as nfs from "node:fs"
import { Cgroups, detect } from "../../src/cgroups/Cgroups.js"
import type { CgroupsService } from "../../src/cgroups/Cgroups.js"

const ROOT = "/sys/fs/cgroup"
const isRoot = process.getuid?.() === 0
const probe = isRoot ? await Effect.runPromise(Effect.either(detect())) : undefined
const runnable = probe?._tag === "Right" && probe.right.driver === "v1"

const pods: Array<string> = []
const children: Array<ChildProcess> = []
const newPod = () => {
  const pod = `t-cg-${randomBytes(4).toString("hex")}`
  pods.push(pod)
  return pod
}

/** Every directory of the pod under any hierarchy, deepest first — found without the driver. */
const leftovers = (pod: string): Array<string> =>
  nfs.readdirSync(ROOT).flatMap((h) => {
    const walk = (dir: string): Array<string> =>
      nfs.existsSync(dir)
        ? [
          ...nfs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) =>
            walk(`${dir}/${e.name}`)
          ),
          dir
        ]
        : []
    return walk(`${ROOT}/${h}/tank/${pod}`)
  })

/** Independent cleanup: kill what is inside, rmdir deepest first, retrying while busy. */
const scrub = async (pod: string) => {
  for (let i = 0; i < 200 && leftovers(pod).length > 0; i++) {
    for (const dir of leftovers(pod)) {
      for (const pid of nfs.readFileSync(`${dir}/cgroup.procs`, "utf8").split("\n").filter((l) => l !== "")) {
        try {
          process.kill(Number(pid), "SIGKILL")
        } catch { /* gone */ }
      }
      try {
        nfs.rmdirSync(dir)
      } catch { /* busy: next round */ }
    }
    await new Promise((r) => setTimeout(r, 10))
  }
}

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL")
  const left = pods.flatMap(leftovers)
  for (const pod of pods.splice(0)) await scrub(pod)
  expect(left, "cgroups left behind").toEqual([])
})

/** `sh -c 'read go; <script>'`: parked until `go` is written, like the native helper before execve. */
const parked = (script: string) =>
  Effect.sync(() => {
    const child = spawn("sh", ["-c", `read go; ${script}`], { stdio: ["pipe", "pipe", "pipe"] })
    children.push(child)
    let stderr = ""
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()))
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal, stderr }))
    )
    return { child, pid: child.pid!, go: () => child.stdin!.write("go\n"), exited: Effect.promise(() => exited) }
  })

const cgroupOf = (pid: number) =>
  Object.fromEntries(
    nfs.readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n").map((l) => {
      const [, controllers, path] = l.split(":")
      return [controllers!, path!] as const
    })
  )

const withDriver = <A, E>(f: (cg: CgroupsService) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.gen(function*() {
    const cg = yield* Cgroups
    return yield* f(cg)
  }).pipe(Effect.scoped, Effect.provide(Cgroups.layer))

describe.skipIf(!runnable)("v1 driver on this machine's real cgroupfs (root)", () => {
  it.live("limits land in the kernel files; a parked process joins every hierarchy and is accounted", () =>
    withDriver((cg) =>
      Effect.gen(function*() {
        const pod = newPod()
        const scope = yield* Scope.make()
        const h = yield* cg.create(
          { pod, container: "app" },
          { memory: 64 << 20, pids: 20, cpu: { quota: 50_000, period: 100_000 } }
        ).pipe(Scope.extend(scope))
        const read = (c: string, f: string) => nfs.readFileSync(`${ROOT}/${c}/tank/${pod}/app/${f}`, "utf8").trim()
        expect(read("memory", "memory.limit_in_bytes")).toBe("67108864")
        expect(read("pids", "pids.max")).toBe("20")
        expect(read("cpu", "cpu.cfs_quota_us")).toBe("50000")
        expect(read("cpu", "cpu.cfs_period_us")).toBe("100000")

        const p = yield* parked("exec sleep 30")
        yield* cg.addProcess(h, p.pid)
        p.go()
        yield* Effect.sleep("200 millis")
        const groups = cgroupOf(p.pid)
        for (const c of ["memory", "pids", "cpu", "cpuacct"]) expect(groups[c]).toBe(`/tank/${pod}/app`)
        expect(groups["freezer"]).toBe("/") // hierarchies Tank does not use are left alone
        const stats = yield* cg.stats({ pod, container: "app" })
        expect(stats.memoryBytes).toBeGreaterThan(0)
        expect(stats.pids).toBe(1)
        expect(stats.memoryLimitBytes).toBe(64 << 20)
        expect(stats.pidsLimit).toBe(20)
        expect(stats.oomKills).toBe(0)
        expect(stats.cpuUsageUsec).toBeGreaterThan(0)
        // the pod group accounts for its container
        const podStats = yield* cg.stats({ pod })
        expect(podStats.memoryBytes).toBeGreaterThanOrEqual(stats.memoryBytes!)
        expect(podStats.pids).toBe(1)
        expect(yield* cg.list).toContain(pod)

        // closing the scope SIGKILLs the leftover task and removes every group (retrying while busy)
        yield* Scope.close(scope, Exit.void)
        expect((yield* p.exited).signal).toBe("SIGKILL")
        expect(leftovers(pod)).toEqual([])
        expect(yield* cg.list).not.toContain(pod)
      })
    ))

  it.live("a pids limit stops a fork loop", () =>
    withDriver((cg) =>
      Effect.gen(function*() {
        const pod = newPod()
        const h = yield* cg.create({ pod, container: "bomb" }, { pids: 20 })
        const p = yield* parked("for i in $(seq 50); do sleep 5 & done; wait")
        yield* cg.addProcess(h, p.pid)
        p.go()
        const exit = yield* p.exited
        expect(exit.stderr.toLowerCase()).toContain("fork")
        const events = nfs.readFileSync(`${ROOT}/pids/tank/${pod}/bomb/pids.events`, "utf8")
        expect(Number(/max (\d+)/.exec(events)?.[1])).toBeGreaterThan(0)
        const stats = yield* cg.stats(h.path)
        expect(stats.pids).toBeLessThanOrEqual(20)
        expect(stats.pids).toBeGreaterThan(10) // the sleeps that did fork are still there, in the group
      })
    ))

  it.live("a memory limit gets a process OOM-killed, and the kill is counted", () =>
    withDriver((cg) =>
      Effect.gen(function*() {
        const pod = newPod()
        const h = yield* cg.create({ pod, container: "hog" }, { memory: 64 << 20 })
        // tail keeps every byte of a line that never ends: it grows until the limit stops it
        const p = yield* parked("exec tail /dev/zero")
        yield* cg.addProcess(h, p.pid)
        p.go()
        const exit = yield* p.exited.pipe(Effect.timeout("20 seconds"))
        expect(exit.signal).toBe("SIGKILL")
        const stats = yield* cg.stats(h.path)
        expect(stats.oomKills).toBe(1)
        expect(stats.memoryPeakBytes).toBeGreaterThan(60 << 20)
        expect(stats.memoryPeakBytes).toBeLessThanOrEqual(64 << 20)
        expect((yield* cg.stats({ pod })).oomKills).toBe(1)
      })
    ))

  // 10% rather than 50%: on a busy 2-core VM a loop may get less than half a CPU anyway
  it.live("a CFS quota of 10% throttles a busy loop", () =>
    withDriver((cg) =>
      Effect.gen(function*() {
        const pod = newPod()
        const h = yield* cg.create({ pod, container: "spin" }, { cpu: { quota: 10_000, period: 100_000 } })
        const p = yield* parked("while :; do :; done")
        yield* cg.addProcess(h, p.pid)
        const start = performance.now()
        p.go()
        yield* Effect.sleep("800 millis")
        const stats = yield* cg.stats(h.path)
        const wallUs = (performance.now() - start) * 1000
        expect(stats.cpuThrottledUsec).toBeGreaterThan(0)
        expect(stats.cpuUsageUsec).toBeGreaterThan(0.02 * wallUs)
        expect(stats.cpuUsageUsec).toBeLessThan(0.3 * wallUs)
      })
    ))

  it.live("the sweeper's remove takes a whole pod with running tasks, and only that pod", () =>
    withDriver((cg) =>
      Effect.gen(function*() {
        const pod = newPod()
        const other = newPod()
        const a = yield* cg.ensure({ pod, container: "a" }, { pids: 10 })
        yield* cg.ensure({ pod, container: "b" })
        yield* cg.ensure({ pod: other })
        const p = yield* parked("exec sleep 30")
        yield* cg.addProcess(a, p.pid)
        p.go()
        yield* cg.remove({ pod }, { force: true })
        expect((yield* p.exited).signal).toBe("SIGKILL")
        expect(leftovers(pod)).toEqual([])
        expect(leftovers(other).length).toBeGreaterThan(0)
        yield* cg.remove({ pod: other })
      })
    ))
})
