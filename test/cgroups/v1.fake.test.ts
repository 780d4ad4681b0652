/**
 * The v1 driver against a simulated cgroupfs (fakeCgroupfs.ts) in a temp dir: which directories
 * and values it writes, in which hierarchies, and what it removes — including co-mounts, cpuset
 * inheritance, busy groups, half-done creates and re-adoption.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as nfs from "node:fs"
import { Cgroups, DEFAULT_DEVICE_RULES, detect } from "../../src/cgroups/Cgroups.js"
import { makeV1 } from "../../src/cgroups/v1.js"
import { tmpDir } from "../support/tmp.js"
import { FakeCgroupfs } from "./fakeCgroupfs.js"

const LIMITS = { memory: 64 << 20, pids: 20, cpu: { quota: 50_000, period: 100_000 } }
// A systemd-style hybrid: cpu and cpuacct co-mounted, plus freezer (not Tank's: never touched).
const LAYOUT = { memory: ["memory"], pids: ["pids"], "cpu,cpuacct": ["cpu", "cpuacct"], freezer: ["freezer"] }

const setup = (layout: Record<string, ReadonlyArray<string>> = LAYOUT, opts: { exitDelay?: number } = {}) =>
  Effect.map(tmpDir("tank-cg-v1-"), (root) => {
    const fake = FakeCgroupfs.v1(root, layout, opts)
    const hierarchies = Object.entries(layout).map(([dir, controllers]) => ({
      mountPoint: `${root}/${dir}`,
      controllers
    }))
    const cg = makeV1({ hierarchies, fs: fake.fs, removeTimeout: "300 millis" })
    return { root, fake, cg }
  })

describe("v1 driver on a fake cgroupfs", () => {
  it.scoped("creates tank/<pod>/<container> in each Tank hierarchy with the limits; release removes it", () =>
    Effect.gen(function*() {
      const { cg, fake, root } = yield* setup()
      const scope = yield* Scope.make()
      const h = yield* cg.create({ pod: "web", container: "app" }, LIMITS).pipe(Scope.extend(scope))
      expect(fake.file("memory/tank/web/app/memory.limit_in_bytes")).toBe("67108864")
      expect(fake.file("pids/tank/web/app/pids.max")).toBe("20")
      expect(fake.file("cpu,cpuacct/tank/web/app/cpu.cfs_period_us")).toBe("100000")
      expect(fake.file("cpu,cpuacct/tank/web/app/cpu.cfs_quota_us")).toBe("50000")
      expect(fake.exists("freezer/tank")).toBe(false)
      // limits sit on the container leaf, the pod group is plain accounting
      expect(fake.file("memory/tank/web/memory.limit_in_bytes")).toBe("9223372036854771712")
      expect(h.procsFiles).toEqual([
        `${root}/memory/tank/web/app/cgroup.procs`,
        `${root}/pids/tank/web/app/cgroup.procs`,
        `${root}/cpu,cpuacct/tank/web/app/cgroup.procs`
      ])
      expect(yield* cg.list).toEqual(["web"])
      yield* Scope.close(scope, Exit.void)
      for (const m of ["memory", "pids", "cpu,cpuacct"]) {
        expect(fake.exists(`${m}/tank/web`)).toBe(false)
        expect(fake.exists(`${m}/tank`)).toBe(true) // tank/ itself stays
      }
      expect(yield* cg.list).toEqual([])
    }))

  it.scoped("one mkdir per hierarchy when tank/<pod> exists, cpu period before quota, removal without extra syscalls", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      yield* cg.ensure({ pod: "web", container: "a" })
      fake.log.length = 0
      yield* cg.ensure({ pod: "web", container: "b" }, LIMITS)
      expect(fake.log.filter((l) => l.startsWith("mkdir"))).toHaveLength(3)
      const cpu = fake.log.filter((l) => l.startsWith("write cpu,cpuacct"))
      expect(cpu).toEqual([
        "write cpu,cpuacct/tank/web/b/cpu.cfs_period_us 100000",
        "write cpu,cpuacct/tank/web/b/cpu.cfs_quota_us 50000"
      ])
      // removing an empty leaf is one rmdir per hierarchy; the pod group, still holding a, one more:
      // the first refused rmdir ends the walk (the dirs are walked in order), then its dirs are listed
      fake.log.length = 0
      yield* cg.remove({ pod: "web", container: "b" }, { force: true })
      expect(fake.log.filter((l) => !l.startsWith("rmdir"))).toEqual([
        "readdir memory/tank/web",
        "readdir pids/tank/web",
        "readdir cpu,cpuacct/tank/web"
      ])
      expect(fake.log.filter((l) => l.startsWith("rmdir"))).toHaveLength(4)
      expect(fake.exists("memory/tank/web/a")).toBe(true)
    }))

  it.scoped("addProcess joins every hierarchy; a pod's group outlives its first container", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      const a = yield* cg.ensure({ pod: "p", container: "a" }, { pids: 5 })
      yield* cg.ensure({ pod: "p", container: "b" })
      yield* cg.addProcess(a, 4242)
      for (const m of ["memory", "pids", "cpu,cpuacct"]) expect(fake.file(`${m}/tank/p/a/cgroup.procs`)).toBe("4242")
      yield* cg.remove({ pod: "p", container: "a" }, { force: true })
      expect(fake.killed).toEqual([4242])
      expect(fake.exists("memory/tank/p/a")).toBe(false)
      expect(fake.exists("memory/tank/p/b")).toBe(true)
      yield* cg.remove({ pod: "p", container: "b" })
      expect(fake.exists("memory/tank/p")).toBe(false)
      expect(fake.exists("pids/tank/p")).toBe(false)
    }))

  it.live("removal retries while a killed task is still leaving (EBUSY), then succeeds", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup(LAYOUT, { exitDelay: 4 })
      const h = yield* cg.ensure({ pod: "p", container: "c" })
      yield* cg.addProcess(h, 777)
      yield* cg.remove({ pod: "p", container: "c" }, { force: true })
      expect(fake.exists("memory/tank/p")).toBe(false)
      expect(fake.log.filter((l) => l === "rmdir memory/tank/p/c").length).toBeGreaterThan(1)
    }).pipe(Effect.scoped))

  it.live("without force a group with tasks is not removed: EBUSY after the timeout, group intact", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      const h = yield* cg.ensure({ pod: "p", container: "c" })
      yield* cg.addProcess(h, 555)
      const err = yield* Effect.flip(cg.remove({ pod: "p", container: "c" }))
      expect(err.code).toBe("EBUSY")
      expect(fake.killed).toEqual([])
      expect(fake.file("pids/tank/p/c/cgroup.procs")).toBe("555")
    }).pipe(Effect.scoped))

  it.scoped("a hierarchy co-mounting cpuset gets cpuset.cpus/mems from its parent, so tasks can join", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup({ memory: ["memory"], "cpu,cpuset": ["cpu", "cpuset"] })
      const h = yield* cg.ensure({ pod: "p", container: "c" }, { cpu: { quota: 20_000, period: 100_000 } })
      for (const d of ["tank", "tank/p", "tank/p/c"]) {
        expect(fake.file(`cpu,cpuset/${d}/cpuset.cpus`)).toBe("0-1")
        expect(fake.file(`cpu,cpuset/${d}/cpuset.mems`)).toBe("0")
      }
      yield* cg.addProcess(h, 99)
      expect(fake.file("cpu,cpuset/tank/p/c/cgroup.procs")).toBe("99")
    }))

  it.scoped("a failed create removes exactly what it created", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      yield* cg.ensure({ pod: "other" })
      // the kernel refuses a 2 s CFS period (max 1 s): fails after the mkdirs
      const err = yield* Effect.flip(
        cg.ensure({ pod: "p", container: "c" }, { cpu: { quota: 50_000, period: 2_000_000 } })
      )
      expect(err).toMatchObject({ _tag: "CgroupError", op: "write", code: "EINVAL" })
      for (const m of ["memory", "pids", "cpu,cpuacct"]) {
        expect(fake.exists(`${m}/tank/p`)).toBe(false)
        expect(fake.exists(`${m}/tank/other`)).toBe(true)
      }
    }))

  it.scoped("a limit whose controller is not mounted fails before touching anything", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup({ memory: ["memory"], "cpu,cpuacct": ["cpu", "cpuacct"] })
      const err = yield* Effect.flip(cg.ensure({ pod: "p" }, { pids: 10 }))
      expect(err).toMatchObject({ code: "ENOTSUP", op: "create" })
      expect(fake.log).toEqual([])
      expect(yield* cg.controllers).toEqual(["memory", "cpu", "cpuacct"])
    }))

  it.scoped("ensure on an existing, populated group adopts it; a failed re-ensure leaves it alone", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      const h = yield* cg.ensure({ pod: "p", container: "c" }, { pids: 10 })
      yield* cg.addProcess(h, 1234)
      const again = yield* cg.ensure({ pod: "p", container: "c" }, { pids: 10 })
      expect(again).toEqual(h)
      yield* Effect.flip(cg.ensure({ pod: "p", container: "c" }, { cpu: { quota: 1000, period: 5_000_000 } }))
      expect(fake.file("pids/tank/p/c/cgroup.procs")).toBe("1234")
      expect(fake.file("pids/tank/p/c/pids.max")).toBe("10")
    }))

  it.scoped("stats: µs, bytes, unlimited absent, a pod group sums its containers' OOM kills", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      yield* cg.ensure({ pod: "p", container: "a" }, { memory: 1 << 20 })
      yield* cg.ensure({ pod: "p", container: "b" })
      fake.setFile("cpu,cpuacct/tank/p/a/cpuacct.usage", "2500000")
      fake.setFile("memory/tank/p/a/memory.usage_in_bytes", "524288")
      fake.setFile("memory/tank/p/a/memory.max_usage_in_bytes", "1048576")
      fake.setFile("memory/tank/p/a/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2")
      fake.setFile("memory/tank/p/b/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1")
      fake.setFile("pids/tank/p/a/pids.current", "1")
      expect(yield* cg.stats({ pod: "p", container: "a" })).toEqual({
        cpuUsageUsec: 2500,
        cpuThrottledUsec: 0,
        memoryBytes: 524288,
        memoryPeakBytes: 1048576,
        memoryLimitBytes: 1048576,
        oomKills: 2,
        pids: 1
      })
      expect((yield* cg.stats({ pod: "p" })).oomKills).toBe(3)
      const gone = yield* Effect.flip(cg.stats({ pod: "nope" }))
      expect(gone.code).toBe("ENOENT")
    }))

  it.scoped("the sweeper: list pods, remove one pod with everything under it", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      const a = yield* cg.ensure({ pod: "left", container: "x" })
      yield* cg.ensure({ pod: "left", container: "y" })
      yield* cg.ensure({ pod: "keep", container: "z" })
      yield* cg.addProcess(a, 31337)
      expect(yield* cg.list).toEqual(["keep", "left"])
      yield* cg.remove({ pod: "left" }, { force: true })
      expect(yield* cg.list).toEqual(["keep"])
      expect(fake.killed).toEqual([31337])
      expect(fake.exists("memory/tank/keep/z")).toBe(true)
    }))

  it.scoped("a pod removed with its container groups named: no listing; one not named is still found (issue 21)", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      yield* cg.ensure({ pod: "p", container: "a" })
      yield* cg.ensure({ pod: "p", container: "b" })
      fake.log.length = 0
      yield* cg.remove({ pod: "p" }, { force: true, children: ["a", "b", "never-made"] })
      expect(fake.log.filter((l) => !l.startsWith("rmdir"))).toEqual([])
      // a, b, never-made (gone already) and p: one rmdir each per hierarchy, none refused
      expect(fake.log).toHaveLength(4 * 3)
      expect(yield* cg.list).toEqual([])
      yield* cg.ensure({ pod: "q", container: "a" })
      yield* cg.ensure({ pod: "q", container: "extra" })
      yield* cg.remove({ pod: "q" }, { force: true, children: ["a"] })
      expect(yield* cg.list).toEqual([])
      expect((yield* Effect.flip(cg.remove({ pod: "q" }, { children: ["../x"] }))).code).toBe("EINVAL")
    }))

  it.scoped("names that are not DNS labels never reach a path", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      for (const path of [{ pod: "../x" }, { pod: "ok", container: "a/b" }, { pod: "" }]) {
        expect((yield* Effect.flip(cg.ensure(path))).code).toBe("EINVAL")
        expect((yield* Effect.flip(cg.remove(path))).code).toBe("EINVAL")
      }
      expect(fake.log).toEqual([])
    }))

  it.scoped("Cgroups.layer-style detection from mountinfo finds the fake hierarchies", () =>
    Effect.gen(function*() {
      const { fake, root } = yield* setup()
      const mi = `${root}/mountinfo`
      nfs.writeFileSync(
        mi,
        [
          `32 31 0:29 / ${root}/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct`,
          `35 31 0:32 / ${root}/memory rw,relatime - cgroup cgroup rw,memory`,
          `37 31 0:34 / ${root}/freezer rw,relatime - cgroup cgroup rw,freezer`,
          `39 31 0:36 / ${root}/pids rw,relatime - cgroup cgroup rw,pids`
        ].join("\n") + "\n"
      )
      const detected = yield* detect({ mountinfo: mi, procCgroups: `${root}/absent` })
      expect(detected.driver).toBe("v1")
      const cg = Cgroups.fromDetected(detected, { fs: fake.fs })
      yield* cg.ensure({ pod: "d", container: "c" }, LIMITS)
      expect(fake.file("cpu,cpuacct/tank/d/c/cpu.cfs_quota_us")).toBe("50000")
      expect(fake.exists("freezer/tank")).toBe(false)
    }))
})

const DEV_LAYOUT = { memory: ["memory"], pids: ["pids"], devices: ["devices"], freezer: ["freezer"] }
const LOOP = { type: "b", major: 7, minor: 0, access: "rwm" } as const
const KVM = { type: "c", major: 10, minor: 232, access: "rwm" } as const
const DEFAULT_LINES =
  "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\nc 5:1 rwm\nc 5:2 rwm\nc 136:* rwm"

describe("v1 driver: the device allow list on a fake cgroupfs", () => {
  it.scoped("a new group: mkdir in the devices hierarchy too, `a` denied before the rules are allowed", () =>
    Effect.gen(function*() {
      const { cg, fake, root } = yield* setup(DEV_LAYOUT)
      const h = yield* cg.ensure({ pod: "web", container: "app" }, { pids: 5, devices: DEFAULT_DEVICE_RULES })
      const devLog = fake.log.filter((l) => l.includes("devices/"))
      // mkdir -p from the leaf up (tank/ and the pod are new), then the policy on the leaf only
      expect(devLog.slice(devLog.lastIndexOf("mkdir devices/tank/web/app"))).toEqual([
        "mkdir devices/tank/web/app",
        "read devices/tank/web/app/devices.list",
        "write devices/tank/web/app/devices.deny a",
        ...DEFAULT_LINES.split("\n").map((l) => `write devices/tank/web/app/devices.allow ${l}`)
      ])
      expect(fake.file("devices/tank/web/app/devices.list")).toBe(DEFAULT_LINES)
      // only the group that received the policy has one
      expect(fake.file("devices/tank/web/devices.list")).toBe("a *:* rwm")
      expect(h.procsFiles).toContain(`${root}/devices/tank/web/app/cgroup.procs`)
      expect(h.dirs).toContain(`${root}/devices/tank/web/app`)
      expect(fake.exists("freezer/tank")).toBe(false)
    }))

  it.scoped("no devices in the limits: no device file is read or written", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup(DEV_LAYOUT)
      yield* cg.ensure({ pod: "web", container: "app" }, { pids: 5 })
      expect(fake.log.filter((l) => l.includes("devices."))).toEqual([])
      expect(fake.file("devices/tank/web/app/devices.list")).toBe("a *:* rwm")
    }))

  it.scoped("pod group (the union) before its containers (their own); more than the parent is EPERM and undone", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup(DEV_LAYOUT)
      yield* cg.ensure({ pod: "p" }, { devices: [...DEFAULT_DEVICE_RULES, LOOP] })
      yield* cg.ensure({ pod: "p", container: "a" }, { devices: [...DEFAULT_DEVICE_RULES, LOOP] })
      // b inherits the pod's exceptions on mkdir: only the loop device is taken away again
      fake.log.length = 0
      yield* cg.ensure({ pod: "p", container: "b" }, { devices: DEFAULT_DEVICE_RULES })
      expect(fake.log.filter((l) => l.startsWith("write devices"))).toEqual([
        "write devices/tank/p/b/devices.deny b 7:0 rwm"
      ])
      expect(fake.file("devices/tank/p/a/devices.list")).toBe(`${DEFAULT_LINES}\nb 7:0 rwm`)
      expect(fake.file("devices/tank/p/b/devices.list")).toBe(DEFAULT_LINES)
      const err = yield* Effect.flip(
        cg.ensure({ pod: "p", container: "c" }, { devices: [...DEFAULT_DEVICE_RULES, KVM] })
      )
      expect(err).toMatchObject({ op: "write", code: "EPERM" })
      expect(err.path).toMatch(/devices\/tank\/p\/c\/devices.allow$/)
      for (const m of ["memory", "pids", "devices"]) expect(fake.exists(`${m}/tank/p/c`)).toBe(false)
    }))

  it.scoped("re-applying replaces the policy with the difference only: works on a pod group with children", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup(DEV_LAYOUT)
      yield* cg.ensure({ pod: "p" }, { devices: DEFAULT_DEVICE_RULES })
      yield* cg.ensure({ pod: "p", container: "a" }, { devices: DEFAULT_DEVICE_RULES })
      // the same policy again: read, nothing written (a running workload never loses /dev/null)
      fake.log.length = 0
      yield* cg.ensure({ pod: "p", container: "a" }, { devices: DEFAULT_DEVICE_RULES })
      expect(fake.log.filter((l) => l.includes("devices."))).toEqual(["read devices/tank/p/a/devices.list"])
      // a new container needs the loop device: the pod group grows without `a` (EINVAL with children)
      fake.log.length = 0
      yield* cg.ensure({ pod: "p" }, { devices: [...DEFAULT_DEVICE_RULES, LOOP] })
      expect(fake.log.filter((l) => l.startsWith("write"))).toEqual(["write devices/tank/p/devices.allow b 7:0 rwm"])
      yield* cg.ensure({ pod: "p", container: "b" }, { devices: [...DEFAULT_DEVICE_RULES, LOOP] })
      expect(fake.file("devices/tank/p/b/devices.list")).toBe(`${DEFAULT_LINES}\nb 7:0 rwm`)
      // and shrinks again: the kernel takes it from the children too
      yield* cg.ensure({ pod: "p" }, { devices: DEFAULT_DEVICE_RULES })
      expect(fake.file("devices/tank/p/b/devices.list")).toBe(DEFAULT_LINES)
    }))

  it.scoped("a policy without a devices hierarchy, or with a bad rule, fails before touching anything", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup()
      expect(yield* Effect.flip(cg.ensure({ pod: "p", container: "c" }, { devices: DEFAULT_DEVICE_RULES })))
        .toMatchObject({ op: "create", code: "ENOTSUP" })
      const dev = yield* setup(DEV_LAYOUT)
      const bad = yield* Effect.flip(
        dev.cg.ensure({ pod: "p", container: "c" }, { devices: [{ type: "c", major: 1, minor: 3, access: "rwx" }] })
      )
      expect(bad).toMatchObject({ op: "validate", code: "EINVAL" })
      expect(bad.message).toContain("devices[0].access")
      expect([...fake.log, ...dev.fake.log]).toEqual([])
    }))

  it.scoped("remove and the sweeper's list cover the devices hierarchy", () =>
    Effect.gen(function*() {
      const { cg, fake } = yield* setup({ devices: ["devices"], memory: ["memory"] })
      const h = yield* cg.ensure({ pod: "p", container: "c" }, { devices: DEFAULT_DEVICE_RULES })
      yield* cg.addProcess(h, 4242)
      expect(fake.file("devices/tank/p/c/cgroup.procs")).toBe("4242")
      fake.removeFile("memory/tank/p/c/notify_on_release")
      nfs.rmSync(`${fake.root}/memory/tank/p`, { recursive: true })
      expect(yield* cg.list).toEqual(["p"]) // seen in the devices hierarchy alone
      yield* cg.remove({ pod: "p" }, { force: true })
      expect(fake.killed).toEqual([4242])
      expect(fake.exists("devices/tank/p")).toBe(false)
      expect(yield* cg.list).toEqual([])
    }))
})
