/**
 * The device allow list attacked for real on this machine (root): a process placed in a Tank group
 * creates device nodes for host devices (loop b 7:0, KVM c 10:232, the root filesystem's disk) on
 * a fresh tmpfs and opens them, through the static `devopen` probe, which reports the kernel's
 * own errno for mknod and for open.
 *
 * - v1: the driver's groups in /sys/fs/cgroup/devices (the probe joins through `tasks`, as the
 *   native helper does).
 * - v2: this hybrid host also runs the cgroup2 device programs of a task's cgroup2 group, so the
 *   v2 driver with its default port (`tank-helper cgroup-devices`) is attacked under
 *   /sys/fs/cgroup/unified/tank too. (v2.qemu.test.ts covers a pure cgroup2 kernel.)
 *
 * Groups, the tmpfs and tank/ (when the test made it) are removed even when a test fails, and
 * checked independently of the driver.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Exit, Scope } from "effect"
import { execFileSync, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as nfs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { CgroupHandle, CgroupsService, DeviceRule } from "../../src/cgroups/Cgroups.js"
import { Cgroups, DEFAULT_DEVICE_RULES, detect } from "../../src/cgroups/Cgroups.js"
import { helperPathCandidate } from "../../src/runtime/helper/binary.js"
import { assertNoLeaks, leakSnapshot, tankCgroupDirs } from "../support/leaks.js"
import { probe } from "../support/probe.js"

const isRoot = process.getuid?.() === 0
const detected = isRoot ? await Effect.runPromise(Effect.either(detect())) : undefined
const v1 = detected?._tag === "Right" && detected.right.driver === "v1" &&
  detected.right.hierarchies.some((h) => h.controllers.includes("devices"))
const UNIFIED = "/sys/fs/cgroup/unified"
const unified = isRoot && nfs.existsSync(`${UNIFIED}/cgroup.procs`) && nfs.existsSync(helperPathCandidate())

/** The disk the root filesystem lives on, from mountinfo's major:minor of "/". */
const rootDisk = (() => {
  const line = nfs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").find((l) => l.split(" ")[4] === "/")
  const [major, minor] = (line?.split(" ")[2] ?? "0:0").split(":").map(Number)
  return { type: "b" as const, major: major!, minor: minor! }
})()

interface Dev {
  readonly name: string
  readonly type: "c" | "b"
  readonly major: number
  readonly minor: number
}
const LOOP: Dev = { name: "loop0", type: "b", major: 7, minor: 0 }
const KVM: Dev = { name: "kvm", type: "c", major: 10, minor: 232 }
const DISK: Dev = { name: "rootdisk", ...rootDisk }
const HOST_DEVICES = [LOOP, KVM, DISK]
const PSEUDO: ReadonlyArray<Dev> = [
  { name: "null", type: "c", major: 1, minor: 3 },
  { name: "zero", type: "c", major: 1, minor: 5 },
  { name: "full", type: "c", major: 1, minor: 7 },
  { name: "random", type: "c", major: 1, minor: 8 },
  { name: "urandom", type: "c", major: 1, minor: 9 }
]
const allow = (d: Dev): DeviceRule => ({ type: d.type, major: d.major, minor: d.minor, access: "rwm" })

// A tmpfs of our own: mknod'd nodes must not be on a nodev filesystem, and nothing stays behind.
let nodes = ""
let serial = 0
beforeAll(() => {
  if (!isRoot) return
  nodes = nfs.mkdtempSync(path.join(os.tmpdir(), "tank-devnodes-"))
  execFileSync("mount", ["-t", "tmpfs", "-o", "mode=700,size=64k", "tmpfs", nodes])
})
afterAll(() => {
  if (nodes === "") return
  execFileSync("umount", [nodes])
  nfs.rmdirSync(nodes)
})

/**
 * Runs `devopen` inside the group: a shell joins every group (writing 0, i.e. itself, to each
 * `tasks` file on v1 — what the helper's workload does — or `cgroup.procs` on v2), then execs the
 * probe, which mknods a fresh node for `dev` and opens it read-only.
 */
const runProbe = (h: CgroupHandle, joinFile: "tasks" | "cgroup.procs", args: ReadonlyArray<string>) => {
  const files = h.procsFiles.map((f) => f.replace(/cgroup\.procs$/, joinFile))
  const r = spawnSync("sh", [
    "-c",
    "n=$1; shift; while [ \"$n\" -gt 0 ]; do echo 0 > \"$1\" || exit 99; shift; n=$((n-1)); done; exec \"$@\"",
    "sh",
    String(files.length),
    ...files,
    probe("devopen"),
    ...args
  ], { encoding: "utf8", timeout: 10_000 })
  if (r.status !== 0) throw new Error(`probe in ${h.dirs.join(",")}: exit ${r.status} ${r.stderr}`)
  return JSON.parse(r.stdout) as { mknod: string; open: string }
}

const openIn = (h: CgroupHandle, dev: Dev, joinFile: "tasks" | "cgroup.procs") => {
  const node = path.join(nodes, `${dev.name}-${serial++}`)
  try {
    return runProbe(h, joinFile, [dev.type, String(dev.major), String(dev.minor), node])
  } finally {
    nfs.rmSync(node, { force: true })
  }
}

/** mknod outside the group (here), then only open inside it. */
const openExisting = (h: CgroupHandle, dev: Dev, joinFile: "tasks" | "cgroup.procs") => {
  const node = path.join(nodes, `${dev.name}-${serial++}`)
  execFileSync("mknod", ["-m", "600", node, dev.type, String(dev.major), String(dev.minor)])
  try {
    return runProbe(h, joinFile, ["-", "-", "-", node]).open
  } finally {
    nfs.rmSync(node, { force: true })
  }
}

const opens = (h: CgroupHandle, devs: ReadonlyArray<Dev>, join: "tasks" | "cgroup.procs") =>
  Object.fromEntries(devs.map((d) => [d.name, openIn(h, d, join).open]))

const allowed = (devs: ReadonlyArray<Dev>) => Object.fromEntries(devs.map((d) => [d.name, "ok"]))

const pods: Array<string> = []
const newPod = () => {
  const pod = `t-dev-${randomBytes(4).toString("hex")}`
  pods.push(pod)
  return pod
}

/** Every directory of the pod in any hierarchy (v1 and the cgroup2 mount), deepest first. */
const leftovers = (pod: string): Array<string> =>
  tankCgroupDirs().flatMap((tank) => {
    const walk = (dir: string): Array<string> =>
      nfs.existsSync(dir)
        ? [
          ...nfs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) =>
            walk(`${dir}/${e.name}`)
          ),
          dir
        ]
        : []
    return walk(`${tank}/${pod}`)
  })

afterEach(async () => {
  const left = pods.flatMap(leftovers)
  for (const pod of pods.splice(0)) {
    for (let i = 0; i < 100 && leftovers(pod).length > 0; i++) {
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
  expect(left, "cgroups left behind").toEqual([])
})

const run = <A, E>(layer: Layer.Layer<Cgroups, E>, f: (cg: CgroupsService) => Effect.Effect<A, unknown, Scope.Scope>) =>
  Effect.gen(function*() {
    return yield* f(yield* Cgroups)
  }).pipe(Effect.scoped, Effect.provide(layer))

describe.skipIf(!v1)("device allow list, cgroup v1 (this machine, root)", () => {
  it.live("default rules: host devices can be created but not opened; the pseudo devices open", () =>
    run(Cgroups.layer, (cg) =>
      Effect.gen(function*() {
        expect(rootDisk.major, "the root filesystem is on a block device").toBeGreaterThan(0)
        const pod = newPod()
        const before = yield* leakSnapshot({ cgroupDirs: tankCgroupDirs(), cgroupMarkers: [pod] })
        const scope = yield* Scope.make()
        const h = yield* cg.create({ pod, container: "c" }, { devices: DEFAULT_DEVICE_RULES }).pipe(Scope.extend(scope))
        expect(h.procsFiles).toContain(`/sys/fs/cgroup/devices/tank/${pod}/c/cgroup.procs`)
        expect(nfs.readFileSync(`/sys/fs/cgroup/devices/tank/${pod}/c/devices.list`, "utf8").trim().split("\n"))
          .toEqual(DEFAULT_DEVICE_RULES.map((r) => `${r.type} ${r.major ?? "*"}:${r.minor ?? "*"} ${r.access}`))
        for (const d of HOST_DEVICES) expect(openIn(h, d, "tasks"), d.name).toEqual({ mknod: "ok", open: "EPERM" })
        for (const d of PSEUDO) expect(openIn(h, d, "tasks"), d.name).toEqual({ mknod: "ok", open: "ok" })
        // the same probe outside the group opens loop and kvm: those EPERMs are the policy's. (This VM
        // refuses to open its root disk to everyone, so that case only shows the policy holds.)
        const outside = { ...h, procsFiles: [] }
        expect(opens(outside, [LOOP, KVM], "tasks")).toEqual(allowed([LOOP, KVM]))
        yield* Scope.close(scope, Exit.void)
        yield* assertNoLeaks(before, { cgroupDirs: tankCgroupDirs(), cgroupMarkers: [pod] })
      })))

  it.live("one extra rule opens exactly that device", () =>
    run(Cgroups.layer, (cg) =>
      Effect.gen(function*() {
        const pod = newPod()
        const h = yield* cg.create({ pod, container: "c" }, { devices: [...DEFAULT_DEVICE_RULES, allow(LOOP)] })
        expect(opens(h, HOST_DEVICES, "tasks")).toEqual({ loop0: "ok", kvm: "EPERM", rootdisk: "EPERM" })
      })))

  it.live("a pod group holds the union: a container cannot get more; growing and shrinking it with containers in place", () =>
    run(Cgroups.layer, (cg) =>
      Effect.gen(function*() {
        const pod = newPod()
        yield* cg.create({ pod }, { devices: DEFAULT_DEVICE_RULES })
        const a = yield* cg.create({ pod, container: "a" }, { devices: DEFAULT_DEVICE_RULES })
        // the kernel refuses a child more than its parent; the failed create leaves nothing
        const refused = yield* Effect.flip(
          cg.create({ pod, container: "b" }, { devices: [...DEFAULT_DEVICE_RULES, allow(LOOP)] })
        )
        expect(refused).toMatchObject({ op: "write", code: "EPERM" })
        expect(nfs.existsSync(`/sys/fs/cgroup/devices/tank/${pod}/b`)).toBe(false)
        // re-applying on the pod group while it has a child (a blanket `a` deny would be EINVAL)
        yield* cg.ensure({ pod }, { devices: [...DEFAULT_DEVICE_RULES, allow(LOOP)] })
        const b = yield* cg.create({ pod, container: "b" }, { devices: [...DEFAULT_DEVICE_RULES, allow(LOOP)] })
        expect(opens(b, [LOOP, KVM], "tasks")).toEqual({ loop0: "ok", kvm: "EPERM" })
        expect(opens(a, [LOOP], "tasks")).toEqual({ loop0: "EPERM" })
        // shrinking the union takes the device from the container too
        yield* cg.ensure({ pod }, { devices: DEFAULT_DEVICE_RULES })
        expect(opens(b, [LOOP], "tasks")).toEqual({ loop0: "EPERM" })
        expect(opens(b, PSEUDO, "tasks")).toEqual(allowed(PSEUDO))
      })))
})

describe.skipIf(!unified)("device allow list, cgroup v2 BPF program (this hybrid host's cgroup2 mount, root)", () => {
  let madeTank = false
  beforeAll(() => {
    madeTank = !nfs.existsSync(`${UNIFIED}/tank`)
  })
  afterAll(() => {
    if (madeTank && nfs.existsSync(`${UNIFIED}/tank`)) nfs.rmdirSync(`${UNIFIED}/tank`)
  })
  const layer = Cgroups.layerV2({ root: UNIFIED })

  it.live("default rules deny the host devices; re-applying replaces the program; ancestors' programs apply too", () =>
    run(layer, (cg) =>
      Effect.gen(function*() {
        const pod = newPod()
        yield* cg.create({ pod }, { devices: [...DEFAULT_DEVICE_RULES, allow(LOOP)] })
        const c = yield* cg.create({ pod, container: "c" }, { devices: DEFAULT_DEVICE_RULES })
        expect(c.procsFiles).toEqual([`${UNIFIED}/tank/${pod}/c/cgroup.procs`])
        for (const d of HOST_DEVICES) {
          expect(openIn(c, d, "cgroup.procs"), d.name).toEqual({ mknod: "ok", open: "EPERM" })
        }
        expect(opens(c, PSEUDO, "cgroup.procs")).toEqual(allowed(PSEUDO))

        // again with the loop device: it opens, so the first program is gone, not stacked
        yield* cg.ensure({ pod, container: "c" }, { devices: [...DEFAULT_DEVICE_RULES, allow(LOOP)] })
        expect(opens(c, HOST_DEVICES, "cgroup.procs")).toEqual({ loop0: "ok", kvm: "EPERM", rootdisk: "EPERM" })
        // and the helper reports exactly one program attached there
        const out = JSON.parse(execFileSync(helperPathCandidate(), [
          "cgroup-devices",
          "--dir",
          `${UNIFIED}/tank/${pod}/c`,
          "--allow",
          "c 1:3 rwm"
        ], { encoding: "utf8" }))
        expect(out.detached).toHaveLength(1)
        expect(out.attached).toEqual([out.programId])
        expect(openIn(c, PSEUDO[0]!, "cgroup.procs")).toEqual({ mknod: "ok", open: "ok" })
        expect(openIn(c, PSEUDO[1]!, "cgroup.procs")).toEqual({ mknod: "EPERM", open: "ENOENT" })
        expect(openExisting(c, PSEUDO[1]!, "cgroup.procs")).toBe("EPERM")

        // a container's own program cannot open what the pod group's program denies
        const k = yield* cg.create({ pod, container: "k" }, { devices: [...DEFAULT_DEVICE_RULES, allow(KVM)] })
        expect(opens(k, [KVM, LOOP], "cgroup.procs")).toEqual({ kvm: "EPERM", loop0: "EPERM" })
      })))

  it.live("no rules at all: every device is denied, even /dev/null", () =>
    run(layer, (cg) =>
      Effect.gen(function*() {
        const pod = newPod()
        const h = yield* cg.create({ pod, container: "c" }, { devices: [] })
        for (const d of PSEUDO) expect(openExisting(h, d, "cgroup.procs"), d.name).toBe("EPERM")
        expect(openIn(h, LOOP, "cgroup.procs")).toEqual({ mknod: "EPERM", open: "ENOENT" })
      })))
})
