/**
 * Host devices, attacked from inside real pods (root): container root may mknod (CAP_MKNOD, as in
 * docker) but opening a device outside the allow-list fails with EPERM — a loop device (b 7:0),
 * KVM (c 10:232) and the block device holding the host's root filesystem — in the workload and in
 * exec'd processes; `devices:` passes exactly the named device through. The probe is
 * test/support/probes/devopen.c (mknod, then open: the kernel's verdict at each step).
 * (cgroup v2: the same policy as a BPF program, tested under qemu in test/cgroups/v2.qemu.test.ts.)
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Api from "../../src/api/Api.js"
import * as Config from "../../src/config/Config.js"
import { majorOf, minorOf } from "../../src/runtime/security/devices.js"
import type { InvalidSpec } from "../../src/spec/decode.js"
import { layerMemory } from "../../src/store/memory.js"
import { Store } from "../../src/store/Store.js"
import { tmpDir } from "../support/tmp.js"
import { execJson, MachineLive, probeRootfs, runJson, startSleeper } from "./support.js"

const rootDisk = () => {
  const dev = fs.statSync("/").dev
  return { major: String(majorOf(dev)), minor: String(minorOf(dev)) }
}
const hostHas = (p: string) =>
  fs.existsSync(p) && fs.statSync(p).isBlockDevice() || fs.existsSync(p) && fs.statSync(p).isCharacterDevice()

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("devices (live, root)", (it) => {
  it.scoped("mknod works, opening a loop device, KVM or the root disk does not (EPERM); the allowed nodes do", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const disk = rootDisk()
      const { json: loop } = yield* runJson(rootfs, "dv-loop", ["/probe/devopen", "b", "7", "0", "/dev/l0"])
      assert.deepStrictEqual(loop, { mknod: "ok", open: "EPERM" })
      const { name } = yield* startSleeper(rootfs, "dv-ex")
      assert.deepStrictEqual(yield* execJson(name, ["/probe/devopen", "c", "10", "232", "/dev/kv"]), {
        mknod: "ok",
        open: "EPERM"
      })
      assert.deepStrictEqual(
        yield* execJson(name, ["/probe/devopen", "b", disk.major, disk.minor, "/dev/rootdisk"]),
        { mknod: "ok", open: "EPERM" }
      )
      // What the default list allows still opens, by its standard node and by a fresh one.
      assert.deepStrictEqual(yield* execJson(name, ["/probe/devopen", "-", "-", "-", "/dev/null"]), {
        mknod: "skipped",
        open: "ok"
      })
      assert.deepStrictEqual(yield* execJson(name, ["/probe/devopen", "c", "1", "9", "/dev/u2"]), {
        mknod: "ok",
        open: "ok"
      })
    }))

  it.scoped.skipIf(!hostHas("/dev/loop0") || !hostHas("/dev/kvm"))(
    "devices: [/dev/loop0] makes exactly that device usable, nothing else",
    () =>
      Effect.gen(function*() {
        const rootfs = yield* probeRootfs
        const { name } = yield* startSleeper(rootfs, "dv-pass", { devices: [{ path: "/dev/loop0" }] })
        assert.deepStrictEqual(yield* execJson(name, ["/probe/devopen", "-", "-", "-", "/dev/loop0"]), {
          mknod: "skipped",
          open: "ok"
        })
        assert.deepStrictEqual(yield* execJson(name, ["/probe/devopen", "b", "7", "1", "/dev/l1"]), {
          mknod: "ok",
          open: "EPERM"
        })
        assert.deepStrictEqual(yield* execJson(name, ["/probe/devopen", "c", "10", "232", "/dev/kv"]), {
          mknod: "ok",
          open: "EPERM"
        })
        // read-only permission: open for reading works (the probe opens O_RDONLY) — and a second
        // pod asking "w" only cannot read it.
        const { name: wo } = yield* startSleeper(rootfs, "dv-wo", {
          devices: [{ path: "/dev/loop0", permissions: "w" }]
        })
        assert.deepStrictEqual(yield* execJson(wo, ["/probe/devopen", "-", "-", "-", "/dev/loop0"]), {
          mknod: "skipped",
          open: "EPERM"
        })
      })
  )

  it.scoped("a device that does not exist, or is not a device, fails the start naming the field", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const missing = yield* Effect.exit(startSleeper(rootfs, "dv-miss", { devices: [{ path: "/dev/tank-nope" }] }))
      assert.isTrue(Exit.isFailure(missing))
      assert.match(JSON.stringify(missing), /containers\[0\]\.devices\[0\]\.path: \/dev\/tank-nope does not exist/)
      const notDev = yield* Effect.exit(startSleeper(rootfs, "dv-dir", { devices: [{ path: "/dev/pts" }] }))
      assert.match(JSON.stringify(notDev), /\/dev\/pts is not a device \(a directory\)/)
    }))
})

describe("apply time (single machine): devices this host lacks are refused before anything is stored", () => {
  it.scoped("a missing device and a directory are refused naming the field; /dev/null is accepted", () =>
    Effect.gen(function*() {
      const dataDir = path.join(yield* tmpDir("tank-dv-"), "data")
      const config = yield* Config.load({ dataDir, env: {} })
      const store = Context.get(yield* Layer.build(layerMemory), Store)
      const run = <A, E>(eff: Effect.Effect<A, E, Store>) =>
        eff.pipe(Effect.provideService(Store, store), Effect.provideService(Config.TankConfig, config))
      const spec = (devices: ReadonlyArray<string>) => ({
        name: "dv",
        initContainers: [{ name: "init", image: "busybox", devices: [{ path: "/dev/null" }] }],
        containers: [{ name: "app", image: "busybox", devices: devices.map((p) => ({ path: p })) }]
      })
      const e = (yield* Effect.flip(run(Api.apply(spec(["/dev/zero", "/dev/tank-nope", "/dev/pts"]))))) as InvalidSpec
      assert.strictEqual(e._tag, "InvalidSpec")
      assert.deepStrictEqual(e.issues.map((i) => i.path), [
        "containers[0].devices[1].path",
        "containers[0].devices[2].path"
      ])
      assert.match(e.issues[0]!.message, /\/dev\/tank-nope does not exist on this host \(ENOENT\)/)
      assert.match(e.issues[1]!.message, /\/dev\/pts is not a device \(a directory\)/)
      assert.strictEqual((yield* store.list).pods.length, 0)
      assert.strictEqual((yield* run(Api.apply(spec(["/dev/zero"])))).name, "dv")
    }))
})
