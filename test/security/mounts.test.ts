/**
 * Mounts, attacked from inside real pods (root): volume binds are nosuid and nodev (a setuid binary
 * or a device node planted in a host directory gives nothing), `readOnly` is read-only recursively
 * (a tmpfs mounted inside the host directory is read-only in the container too), and the
 * side-channel /proc files are masked.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { execCapture } from "../../src/exec/Exec.js"
import { probe } from "../support/probe.js"
import { tmpDir } from "../support/tmp.js"
import { execJson, MachineLive, onMachine, probeRootfs, startSleeper } from "./support.js"

/** A host directory with a tmpfs mounted inside it at sub/, unmounted when the scope closes. */
const dirWithSubmount = Effect.gen(function*() {
  const dir = yield* tmpDir("tank-sec-vol-")
  const sub = path.join(dir, "sub")
  fs.mkdirSync(sub)
  yield* Effect.acquireRelease(
    Effect.sync(() => execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tank-sec-sub", sub])),
    () => Effect.sync(() => execFileSync("umount", ["-l", sub]))
  )
  fs.writeFileSync(path.join(sub, "inner"), "x")
  fs.writeFileSync(path.join(dir, "outer"), "x")
  return dir
})

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("mounts (live, root)", (it) => {
  it.scoped("readOnly is recursive: a tmpfs submount of a read-only host volume is read-only too", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const host = yield* dirWithSubmount
      const { name } = yield* startSleeper(rootfs, "mt-ro", {
        mounts: [{ volume: "v", path: "/vol", readOnly: true }]
      }, { volumes: [{ name: "v", source: { host } }] })
      const r = yield* onMachine(execCapture(name, [
        "sh",
        "-c",
        "cat /vol/sub/inner && echo seen; (echo y > /vol/outer) 2>&1; (echo y > /vol/sub/inner) 2>&1; (touch /vol/sub/new) 2>&1; grep -E ' /vol(/sub)? ' /proc/self/mountinfo"
      ]))
      assert.match(r.stdout, /^xseen/)
      const denied = r.stdout.match(/Read-only file system/g) ?? []
      assert.strictEqual(denied.length, 3, r.stdout)
      // both mounts ro, nosuid, nodev
      const mounts = r.stdout.split("\n").filter((l) => / \/vol(\/sub)? /.test(l))
      assert.strictEqual(mounts.length, 2, r.stdout)
      for (const m of mounts) assert.match(m.split(" ")[5]!, /^ro,nosuid,nodev/, m)
      assert.strictEqual(fs.readFileSync(path.join(host, "sub", "inner"), "utf8"), "x")
    }))

  it.scoped("volumes are nosuid and nodev: a planted setuid binary and device node give nothing", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const host = yield* tmpDir("tank-sec-vol-")
      fs.chmodSync(host, 0o755) // uid 1000 inside must reach it
      // What a compromised pod (or anyone able to write the host dir) plants there.
      const suid = path.join(host, "capstatus-suid")
      fs.copyFileSync(probe("capstatus"), suid)
      fs.chownSync(suid, 0, 0)
      fs.chmodSync(suid, 0o4755)
      const { name } = yield* startSleeper(rootfs, "mt-vol", {
        user: "1000:1000",
        noNewPrivileges: false,
        mounts: [{ volume: "v", path: "/vol" }, { volume: "m", path: "/managed" }]
      }, { volumes: [{ name: "v", source: { host } }, { name: "m" }] })
      const r = yield* execJson(name, ["/vol/capstatus-suid"])
      assert.deepInclude(r, { uid: 1000, euid: 1000, CapEff: "0000000000000000" })
      // The same binary from the image (no nosuid there) does lift: the volume's nosuid is what stopped it.
      assert.deepInclude(yield* execJson(name, ["/probe/capstatus-suid"]), { euid: 0 })
      // A device node in a volume cannot be opened (nodev), even one the device policy allows.
      execFileSync("mknod", [path.join(host, "null2"), "c", "1", "3"])
      assert.deepInclude(yield* execJson(name, ["/probe/devopen", "-", "-", "-", "/vol/null2"]), { open: "EACCES" })
      const mi = yield* onMachine(execCapture(name, ["sh", "-c", "grep -E ' /(vol|managed) ' /proc/self/mountinfo"]))
      for (const m of mi.stdout.trim().split("\n")) assert.match(m.split(" ")[5]!, /^rw,nosuid,nodev/, m)
    }))

  it.scoped("/proc/interrupts is masked (it exists on the host)", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      assert.isAbove(fs.readFileSync("/proc/interrupts", "utf8").length, 0)
      const { name } = yield* startSleeper(rootfs, "mt-mask")
      const r = yield* onMachine(
        execCapture(name, ["sh", "-c", "wc -c < /proc/interrupts; grep -c ' /proc/interrupts ' /proc/self/mountinfo"])
      )
      assert.deepStrictEqual(r.stdout.trim().split("\n"), ["0", "1"])
    }))
})
