/**
 * Pods in user namespaces (`hostUsers: false`), attacked from inside real pods (root): container
 * root is an unprivileged host id of the pod's own range; the image's files keep their owners inside
 * while the shared layer dirs stay untouched; host volumes are idmapped; the escape probes of the
 * isolation tests still fail; and a host directory fd leaked into the pod (handed over a unix socket,
 * as a compromised helper would) gives no write access — the same leak into a `hostUsers: true` pod
 * does, which shows what the user namespace adds.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { TankConfig } from "../../src/config/Config.js"
import { execCapture } from "../../src/exec/Exec.js"
import { Runtime } from "../../src/runtime/Runtime.js"
import * as UserNs from "../../src/runtime/userns/UserNamespaces.js"
import { decodePod } from "../../src/spec/decode.js"
import { probe } from "../support/probe.js"
import { runtimeLayer, type TankEnv, tankEnv } from "../support/tankEnv.js"
import { tmpDir } from "../support/tmp.js"
import { probeRootfs, PROBES } from "./support.js"

/** A random pool of 16 blocks, high up, away from real users and other test files (ranges are held until a pod is purged). */
const POOL = { start: (30_000 + Math.floor(Math.random() * 10_000)) * 65536, size: 16 * 65536 }

class UMachine extends Context.Tag("test/security/UMachine")<UMachine, {
  readonly env: TankEnv
  readonly ctx: Context.Context<Runtime | TankConfig>
}>() {}

const UMachineLive = Layer.scoped(
  UMachine,
  Effect.gen(function*() {
    const env = yield* tankEnv()
    const ctx = yield* Layer.build(runtimeLayer(env).pipe(Layer.provide(UserNs.layerMemory(POOL))))
    return { env, ctx }
  })
)

let n = 0
const name = (what: string) => `${what}-u${process.pid.toString(36)}-${(n++).toString(36)}`

/** Start a pod for the rest of the scope. */
const start = (spec: Record<string, unknown>) =>
  Effect.gen(function*() {
    const { ctx } = yield* UMachine
    const pod = yield* decodePod(spec)
    return yield* Effect.flatMap(Runtime, (r) => r.start(pod)).pipe(Effect.provide(ctx))
  })

const sleeper = (
  rootfs: string,
  what: string,
  extra: Record<string, unknown> = {},
  pod: Record<string, unknown> = {}
) => ({
  name: name(what),
  restart: "never",
  hostUsers: false,
  ...pod,
  containers: [{
    name: "app",
    image: { rootfs },
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
    ...extra
  }]
})

const run = (pod: string, argv: ReadonlyArray<string>) =>
  Effect.flatMap(UMachine, ({ env }) => execCapture(pod, argv).pipe(Effect.provideService(TankConfig, env.config)))

const json = (pod: string, argv: ReadonlyArray<string>) =>
  Effect.map(run(pod, argv), (r) => JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as Record<string, unknown>)

const hostIds = (pid: number) => {
  const st = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return { uid: Number(/^Uid:\s+(\d+)/m.exec(st)![1]), gid: Number(/^Gid:\s+(\d+)/m.exec(st)![1]) }
}

/** Hand a host directory's fd to whoever connects to `sock` (the fdpass probe, on the host). */
const leakDirFd = (sock: string, dir: string) =>
  Effect.acquireRelease(
    Effect.async<ReturnType<typeof spawn>>((resume) => {
      const child = spawn(probe("fdpass"), ["send", sock, dir], { stdio: ["ignore", "pipe", "inherit"] })
      child.stdout!.once("data", () => resume(Effect.succeed(child)))
    }),
    (c) => Effect.sync(() => c.kill("SIGKILL"))
  )

layer(UMachineLive, { timeout: 180_000, excludeTestServices: true })("user namespaces (live, root)", (it) => {
  it.scoped("container root is its range's first host id; ids, files and the layer as they should be; exec works", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const passwd = fs.statSync(path.join(rootfs, "etc/passwd"))
      const a = sleeper(rootfs, "us-a")
      const b = sleeper(rootfs, "us-b")
      const ha = yield* start(a)
      const hb = yield* start(b)
      const ra = ha.userNamespace!, rb = hb.userNamespace!
      assert.strictEqual(ra.size, 65536)
      assert.notStrictEqual(ra.hostUid, rb.hostUid)
      assert.isTrue(ra.hostUid + ra.size <= rb.hostUid || rb.hostUid + rb.size <= ra.hostUid, "disjoint ranges")
      for (const r of [ra, rb]) assert.isTrue(r.hostUid >= POOL.start && r.hostUid + r.size <= POOL.start + POOL.size)
      // On the host: the workload runs as the range's first id, not root.
      assert.deepStrictEqual(hostIds(ha.hostPid), { uid: ra.hostUid, gid: ra.hostGid })
      // Inside: root, mapped to the range; the image's files keep their owners.
      const inside = yield* run(a.name, [
        "sh",
        "-c",
        "cat /proc/self/uid_map; id -u; stat -c '%u:%g' /etc/passwd /home/tank"
      ])
      assert.deepStrictEqual(inside.stdout.trim().split("\n").map((l) => l.trim().replace(/\s+/g, " ")), [
        `0 ${ra.hostUid} 65536`,
        "0",
        "0:0",
        "1000:1000"
      ])
      // The layer dir on the host: same owner, same inode.
      const after = fs.statSync(path.join(rootfs, "etc/passwd"))
      assert.deepStrictEqual([after.uid, after.ino], [passwd.uid, passwd.ino])
      // exec'd processes run in the pod's user namespace too, as the same host ids.
      const caps = yield* json(b.name, ["/probe/capstatus"])
      assert.strictEqual(caps["uid"], 0)
    }))

  it.scoped("the escape probes still fail: seccomp, devices, setuid", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const p = sleeper(rootfs, "us-esc", { user: "1000:1000" })
      yield* start(p)
      const sys = yield* json(p.name, ["/probe/syscalls", "keyctl", "unshare_user", "bpf", "mount"])
      assert.deepInclude(sys, { Seccomp: "2", keyctl: "EPERM", unshare_user: "EPERM", bpf: "EPERM", mount: "EPERM" })
      const q = sleeper(rootfs, "us-dev")
      yield* start(q)
      // In a user namespace even mknod of a device node is refused (it needs CAP_MKNOD on the host).
      assert.deepStrictEqual(yield* json(q.name, ["/probe/devopen", "b", "7", "0", "/dev/l0"]), {
        mknod: "EPERM",
        open: "ENOENT"
      })
      const suid = yield* json(p.name, ["/probe/capstatus-suid"])
      assert.deepInclude(suid, { euid: 1000, CapEff: "0000000000000000" })
    }))

  it.scoped("a leaked host directory fd: root of a hostUsers:false pod cannot write through it; of a host-users pod, it can", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const target = yield* tmpDir("tank-us-target-") // root-owned, 0755 below
      fs.chmodSync(target, 0o755)
      const sockDir = yield* tmpDir("tank-us-sock-")
      fs.chmodSync(sockDir, 0o777)
      const spec = (what: string, hostUsers: boolean) =>
        sleeper(rootfs, what, { mounts: [{ volume: "s", path: "/s" }] }, {
          hostUsers,
          volumes: [{ name: "s", source: { host: sockDir } }]
        })
      const confined = spec("us-leak", false)
      yield* start(confined)
      yield* leakDirFd(path.join(sockDir, "a.sock"), target)
      const r = yield* json(confined.name, ["/probe/fdpass", "recv", "/s/a.sock", "pwned"])
      assert.deepStrictEqual(r, { create: "EACCES", chmod: "EPERM" })
      assert.isFalse(fs.existsSync(path.join(target, "pwned")))
      assert.strictEqual(fs.statSync(target).mode & 0o777, 0o755)
      // The control: the same leak into a pod in the host's user namespace.
      const open = spec("us-leak-host", true)
      yield* start(open)
      yield* leakDirFd(path.join(sockDir, "b.sock"), target)
      const o = yield* json(open.name, ["/probe/fdpass", "recv", "/s/b.sock", "pwned"])
      assert.deepStrictEqual(o, { create: "ok", chmod: "ok" })
      assert.isTrue(fs.existsSync(path.join(target, "pwned")))
    }))
  void PROBES
})
