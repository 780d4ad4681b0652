/**
 * The v2 driver against a simulated cgroup2 root (fakeCgroupfs.ts): controller enabling down the
 * tree, the no-internal-processes rule, cgroup.kill, stats and removal.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as nfs from "node:fs"
import type { DeviceRule } from "../../src/cgroups/Cgroups.js"
import { CgroupError, DEFAULT_DEVICE_RULES } from "../../src/cgroups/Cgroups.js"
import { makeV2 } from "../../src/cgroups/v2.js"
import { tmpDir } from "../support/tmp.js"
import { FakeCgroupfs } from "./fakeCgroupfs.js"

const LIMITS = { memory: 64 << 20, pids: 20, cpu: { quota: 50_000, period: 100_000 } }
const ALL = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]

const setup = (controllers: ReadonlyArray<string> = ALL, opts: { cgroupKill?: boolean; exitDelay?: number } = {}) =>
  Effect.map(tmpDir("tank-cg-v2-"), (root) => {
    const fake = FakeCgroupfs.v2(root, controllers, opts)
    return { root, fake, cg: makeV2({ root, fs: fake.fs, removeTimeout: "300 millis" }) }
  })

describe("v2 driver on a fake cgroup2 root", () => {
  it.scoped("enables memory/pids/cpu down to the pod, writes memory.max, pids.max, cpu.max on the leaf", () =>
    Effect.gen(function*() {
      const { cg, fake, root } = yield* setup()
      const scope = yield* Scope.make()
      const h = yield* cg.create({ pod: "web", container: "app" }, LIMITS).pipe(Scope.extend(scope))
      expect(fake.file("cgroup.subtree_control")).toBe("memory pids cpu")
      expect(fake.file("tank/cgroup.subtree_control")).toBe("memory pids cpu")
      expect(fake.file("tank/web/cgroup.subtree_control")).toBe("memory pids cpu")
      expect(fake.file("tank/web/app/memory.max")).toBe("67108864")
      expect(fake.file("tank/web/app/pids.max")).toBe("20")
      expect(fake.file("tank/web/app/cpu.max")).toBe("50000 100000")
      expect(fake.file("tank/web/app/cgroup.subtree_control")).toBe("")
      expect(h.procsFiles).toEqual([`${root}/tank/web/app/cgroup.procs`])
      yield* Scope.close(scope, Exit.void)
      expect(fake.exists("tank/web")).toBe(false)
      expect(fake.exists("tank")).toBe(true)
    }))

  it.scoped("controllers already enabled at the root are not written again; one driver prepares the base once", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      fake.setFile("cgroup.subtree_control", "cpu memory pids")
      yield* cg.ensure({ pod: "a", container: "c" })
      yield* cg.ensure({ pod: "b", container: "c" })
      expect(fake.log.filter((l) => l.startsWith("write cgroup.subtree_control"))).toEqual([])
      expect(fake.log.filter((l) => l === "mkdir tank")).toHaveLength(1)
      // second pod: mkdir pod, enable in pod, mkdir leaf — nothing more
      const second = fake.log.slice(fake.log.lastIndexOf("mkdir tank/b"))
      expect(second).toEqual([
        "mkdir tank/b",
        "write tank/b/cgroup.subtree_control +memory +pids +cpu",
        "mkdir tank/b/c"
      ])
    }))

  it.scoped("only what cgroup.controllers offers is enabled; a limit on a missing controller fails, leaving nothing", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup(["cpu", "memory"])
      expect(yield* cg.controllers).toEqual(["memory", "cpu"])
      const err = yield* Effect.flip(cg.ensure({ pod: "p", container: "c" }, { pids: 10 }))
      expect(err).toMatchObject({ code: "ENOTSUP", op: "create" })
      expect(fake.exists("tank/p")).toBe(false)
      yield* cg.ensure({ pod: "p", container: "c" }, { memory: 1 << 20 })
      expect(fake.file("tank/p/cgroup.subtree_control")).toBe("memory cpu")
      expect(fake.exists("tank/p/c/pids.max")).toBe(false)
      expect(fake.file("tank/p/c/memory.max")).toBe("1048576")
    }))

  it.scoped("no internal processes: the pod group of a container refuses tasks, the leaf takes them", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      const leaf = yield* cg.ensure({ pod: "p", container: "c" })
      const pod = yield* cg.handle({ pod: "p" })
      expect((yield* Effect.flip(cg.addProcess(pod, 42))).code).toBe("EBUSY")
      yield* cg.addProcess(leaf, 42)
      expect(fake.file("tank/p/c/cgroup.procs")).toBe("42")
    }))

  it.scoped("a pod without containers is itself the leaf, with the limits", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      const h = yield* cg.ensure({ pod: "solo" }, { pids: 3 })
      yield* cg.addProcess(h, 7)
      expect(fake.file("tank/solo/pids.max")).toBe("3")
      expect(fake.file("tank/solo/cgroup.procs")).toBe("7")
      yield* cg.remove({ pod: "solo" }, { force: true })
      expect(fake.exists("tank/solo")).toBe(false)
    }))

  it.live("forced removal kills through cgroup.kill and retries while the tasks leave", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup(ALL, { exitDelay: 3 })
      const h = yield* cg.ensure({ pod: "p", container: "c" })
      yield* cg.addProcess(h, 11)
      yield* cg.remove({ pod: "p", container: "c" }, { force: true })
      expect(fake.log).toContain("write tank/p/c/cgroup.kill 1")
      expect(fake.killed).toContain(11)
      expect(fake.exists("tank/p")).toBe(false)
    }).pipe(Effect.scoped))

  it.live("kernels without cgroup.kill: the pids in cgroup.procs are killed instead", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup(ALL, { cgroupKill: false })
      const h = yield* cg.ensure({ pod: "p", container: "c" })
      yield* cg.addProcess(h, 12)
      yield* cg.remove({ pod: "p" }, { force: true })
      expect(fake.killed).toEqual([12])
      expect(fake.exists("tank/p")).toBe(false)
    }).pipe(Effect.scoped))

  it.scoped("two containers of one pod created concurrently; the pod group goes with the last", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      yield* Effect.all([
        cg.ensure({ pod: "p", container: "a" }, { pids: 5 }),
        cg.ensure({ pod: "p", container: "b" }, { pids: 6 })
      ], { concurrency: "unbounded" })
      expect(fake.file("tank/p/a/pids.max")).toBe("5")
      expect(fake.file("tank/p/b/pids.max")).toBe("6")
      yield* cg.remove({ pod: "p", container: "a" })
      expect(fake.exists("tank/p/b")).toBe(true)
      yield* cg.remove({ pod: "p", container: "b" })
      expect(fake.exists("tank/p")).toBe(false)
    }))

  it.scoped("tank/ removed behind the driver's back is set up again", () =>
    Effect.gen(function*() {
      const { cg, fake, root } = yield* setup()
      yield* cg.ensure({ pod: "a", container: "c" })
      yield* cg.remove({ pod: "a" })
      yield* fake.fs.rmdir(`${root}/tank`)
      yield* cg.ensure({ pod: "b", container: "c" }, { memory: 1 << 20 })
      expect(fake.file("tank/b/c/memory.max")).toBe("1048576")
    }))

  it.scoped("stats from cpu.stat, memory.*, memory.events, pids.*; memory.peak absent on older kernels", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      yield* cg.ensure({ pod: "p", container: "c" }, { memory: 64 << 20 })
      fake.setFile("tank/p/c/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nthrottled_usec 0")
      fake.setFile("tank/p/c/memory.current", "4096")
      fake.setFile("tank/p/c/memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0")
      fake.setFile("tank/p/c/pids.current", "2")
      fake.removeFile("tank/p/c/memory.peak")
      const stats = yield* cg.stats({ pod: "p", container: "c" })
      expect(stats).toMatchObject({
        cpuUsageUsec: 1500,
        memoryBytes: 4096,
        memoryLimitBytes: 67108864,
        oomKills: 1,
        pids: 2
      })
      expect(stats.pidsLimit).toBeUndefined()
      expect("memoryPeakBytes" in stats).toBe(false)
      expect((yield* Effect.flip(cg.stats({ pod: "gone" }))).code).toBe("ENOENT")
    }))
})

describe("v2 driver: the device allow list through the attachDevices port", () => {
  const LOOP: DeviceRule = { type: "b", major: 7, minor: 0, access: "rwm" }
  /** Records each call, with what the group's directory looked like at that moment. */
  const recording = (root: string, fail?: CgroupError) => {
    const calls: Array<{ dir: string; rules: ReadonlyArray<DeviceRule>; existed: boolean; pidsMax?: string }> = []
    const attach = (dir: string, rules: ReadonlyArray<DeviceRule>) =>
      Effect.suspend(() => {
        const pids = `${dir}/pids.max`
        calls.push({
          dir: dir.slice(root.length + 1),
          rules,
          existed: nfs.existsSync(dir),
          ...(nfs.existsSync(pids) ? { pidsMax: nfs.readFileSync(pids, "utf8").trim() } : {})
        })
        return fail === undefined ? Effect.void : Effect.fail(fail)
      })
    return { calls, attach }
  }
  const setupWith = (fail?: CgroupError) =>
    Effect.map(tmpDir("tank-cg-v2dev-"), (root) => {
      const fake = FakeCgroupfs.v2(root, ALL)
      const port = recording(root, fail)
      return { root, fake, port, cg: makeV2({ root, fs: fake.fs, attachDevices: port.attach }) }
    })

  it.scoped("the group that gets `devices` gets one attach, after its directory and limits exist", () =>
    Effect.gen(function*() {
      const { cg, port } = yield* setupWith()
      yield* cg.ensure({ pod: "p" }, { devices: [...DEFAULT_DEVICE_RULES, LOOP] })
      yield* cg.ensure({ pod: "p", container: "a" }, { pids: 9, devices: DEFAULT_DEVICE_RULES })
      yield* cg.ensure({ pod: "p", container: "b" }, { pids: 9 })
      expect(port.calls).toEqual([
        { dir: "tank/p", rules: [...DEFAULT_DEVICE_RULES, LOOP], existed: true, pidsMax: "max" },
        { dir: "tank/p/a", rules: DEFAULT_DEVICE_RULES, existed: true, pidsMax: "9" }
      ])
      // ensure again re-applies (the helper replaces the program)
      yield* cg.ensure({ pod: "p", container: "a" }, { devices: [...DEFAULT_DEVICE_RULES, LOOP] })
      expect(port.calls).toHaveLength(3)
      expect(port.calls[2]).toMatchObject({ dir: "tank/p/a", rules: [...DEFAULT_DEVICE_RULES, LOOP] })
    }))

  it.scoped("a failed attach fails ensure and removes the directories it created", () =>
    Effect.gen(function*() {
      const boom = new CgroupError({ op: "devices", path: "x", code: "EPERM", message: "load: nope" })
      const { cg, fake, port } = yield* setupWith(boom)
      const err = yield* Effect.flip(cg.ensure({ pod: "p", container: "c" }, { devices: DEFAULT_DEVICE_RULES }))
      expect(err).toBe(boom)
      expect(port.calls).toHaveLength(1)
      expect(fake.exists("tank/p")).toBe(false)
    }))

  it.scoped("bad rules are refused before anything is created or attached", () =>
    Effect.gen(function*() {
      const { cg, fake, port } = yield* setupWith()
      const err = yield* Effect.flip(
        cg.ensure({ pod: "p", container: "c" }, { devices: [{ type: "b", major: 7, minor: 0, access: "x" }] })
      )
      expect(err).toMatchObject({ op: "validate", code: "EINVAL" })
      expect(port.calls).toEqual([])
      expect(fake.log.filter((l) => l.startsWith("mkdir"))).toEqual([])
    }))
})
