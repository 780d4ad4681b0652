/**
 * Runs inside the qemu guest (a Debian kernel booted with cgroup_no_v1=all, so memory, pids and
 * cpu are on cgroup2): exercises the v2 driver on a real kernel and prints what it observed as
 * one `TANK-RESULT <json>` line. The assertions live in the host-side test (v2.qemu.test.ts).
 * Bundled with esbuild into a single file; not collected by vitest (no .test.ts suffix).
 */
import { Effect, Exit, Scope } from "effect"
import { execFileSync, spawn, spawnSync } from "node:child_process"
import * as nfs from "node:fs"
import type { CgroupHandle, CgroupsService, DeviceRule } from "../../../src/cgroups/Cgroups.js"
import { Cgroups, DEFAULT_DEVICE_RULES, detect } from "../../../src/cgroups/Cgroups.js"

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

// 4. The device allow list (a BPF device program per group, attached by /bin/tank-helper through
// $TANK_HELPER): a shell joins the group and execs the static probe, which mknods a node on /tmp
// (a tmpfs without nodev) and opens it. No loop or kvm driver in this guest: a device the program
// lets through fails with ENXIO/ENODEV instead of EPERM. c 1:11 (/dev/kmsg) exists and opens.
const PROBE = "/bin/devopen"
const DEVS = {
  loop: ["b", 7, 0],
  kvm: ["c", 10, 232],
  kmsg: ["c", 1, 11],
  null: ["c", 1, 3],
  zero: ["c", 1, 5]
} as const
type DevName = keyof typeof DEVS
const rule = (d: DevName): DeviceRule => ({ type: DEVS[d][0], major: DEVS[d][1], minor: DEVS[d][2], access: "rwm" })
let serial = 0
const probeIn = (h: CgroupHandle, names: ReadonlyArray<DevName>) =>
  Object.fromEntries(names.map((d) => {
    const node = `/tmp/dev-${d}-${serial++}`
    const [t, maj, min] = DEVS[d]
    const r = spawnSync("sh", [
      "-c",
      `echo 0 > ${h.procsFiles[0]} && exec ${PROBE} ${t} ${maj} ${min} ${node}`
    ], { encoding: "utf8" })
    nfs.rmSync(node, { force: true })
    const out = r.status === 0 ? JSON.parse(r.stdout) as { mknod: string; open: string } : null
    return [d, out === null ? `exit ${r.status} ${r.stderr}` : `${out.mknod}/${out.open}`]
  }))

const devices = (cg: CgroupsService) =>
  Effect.gen(function*() {
    const ALL: ReadonlyArray<DevName> = ["loop", "kvm", "kmsg", "null", "zero"]
    const union = [...DEFAULT_DEVICE_RULES, rule("kmsg"), rule("loop")]
    yield* cg.ensure({ pod: "qdev" }, { devices: union })
    const c = yield* cg.ensure({ pod: "qdev", container: "c" }, { devices: DEFAULT_DEVICE_RULES })
    const defaults = probeIn(c, ALL)
    // re-applying with one more device replaces the program (a stacked one would still deny it)
    yield* cg.ensure({ pod: "qdev", container: "c" }, { devices: [...DEFAULT_DEVICE_RULES, rule("kmsg")] })
    const withKmsg = probeIn(c, ALL)
    yield* cg.ensure({ pod: "qdev", container: "c" }, { devices: [...DEFAULT_DEVICE_RULES, rule("loop")] })
    const withLoop = probeIn(c, ["loop", "kmsg"])
    // the helper itself: what is attached to the group after one more re-apply
    const helper = JSON.parse(execFileSync(process.env["TANK_HELPER"]!, [
      "cgroup-devices",
      "--dir",
      c.dirs[0]!,
      ...DEFAULT_DEVICE_RULES.flatMap((r) => ["--allow", `${r.type} ${r.major ?? "*"}:${r.minor ?? "*"} ${r.access}`])
    ], { encoding: "utf8" })) as { programId: number; detached: Array<number>; attached: Array<number> }
    const afterHelper = probeIn(c, ["kmsg", "null"])
    // the pod group's program applies to its containers: kvm is allowed here but not in the union
    const k = yield* cg.ensure({ pod: "qdev", container: "k" }, { devices: [...DEFAULT_DEVICE_RULES, rule("kvm")] })
    const kvmUnderPod = probeIn(k, ["kvm"])
    yield* cg.remove({ pod: "qdev" }, { force: true })
    return {
      defaults,
      withKmsg,
      withLoop,
      helper,
      afterHelper,
      kvmUnderPod,
      left: nfs.existsSync("/sys/fs/cgroup/tank/qdev")
    }
  })

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
  obs.devices = yield* devices(cg)
  obs.finalList = yield* cg.list
  return obs
})

Effect.runPromise(program).then(
  (obs) => console.log(`TANK-RESULT ${JSON.stringify(obs)}`),
  (e) => console.log(`TANK-ERROR ${String(e)} ${JSON.stringify(e)}`)
)
