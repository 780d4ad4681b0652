/**
 * unpinSandbox's error handling, on a recording libc: which umount2 failures are "nothing to undo"
 * (EINVAL, ENOENT) and which stop the teardown with an UnpinError naming the pin (anything else,
 * e.g. EBUSY or EPERM, which only a broken machine produces for real); the dir's self-bind is
 * detached first, with the pins inside it, in one call. And once for real: a sandbox the helper
 * made (in a temp dir) is gone, pins and all, after one tree detach.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Libc, type LibcService, MNT_DETACH } from "../../src/host/libc.js"
import { sandbox } from "../../src/runtime/helper/sandbox.js"
import { detach, unpin, UnpinError } from "../../src/runtime/unpin.js"
import { recordingLibc } from "../support/recordingLibc.js"
import { tmpDir } from "../support/tmp.js"

/** A sandbox dir with the four pin files (not mounted). */
const sandboxDir = Effect.map(tmpDir("tank-unpin-"), (root) => {
  const dir = path.join(root, "ns")
  fs.mkdirSync(dir)
  for (const ns of ["net", "uts", "ipc", "user"]) fs.writeFileSync(path.join(dir, ns), "")
  return dir
})

describe("unpin", () => {
  it.scoped("tries the dir, then every pin, user last, and removes the dir when none is mounted (EINVAL)", () =>
    Effect.gen(function*() {
      const dir = yield* sandboxDir
      const libc = recordingLibc(() => "EINVAL")
      yield* unpin(dir).pipe(Effect.provide(libc.layer))
      assert.deepStrictEqual(
        libc.calls,
        [dir, ...["net", "uts", "ipc", "user"].map((ns) => path.join(dir, ns))].map((p) => ({
          call: "umount2",
          args: [p, MNT_DETACH]
        }))
      )
      assert.isFalse(fs.existsSync(dir))
    }))

  it.scoped("the dir's self-bind is detached first (with the pins below it) until it is no mount point", () =>
    Effect.gen(function*() {
      const dir = yield* sandboxDir
      let dirMounts = 2 // a sandbox made twice over the dir: two stacked binds
      const libc = recordingLibc((c) => c.args[0] === dir ? (dirMounts-- > 0 ? undefined : "EINVAL") : "EINVAL" // the pins went with it
      )
      yield* unpin(dir).pipe(Effect.provide(libc.layer))
      assert.deepStrictEqual(libc.calls.map((c) => c.args[0]), [
        dir,
        dir,
        dir,
        ...["net", "uts", "ipc", "user"].map((ns) => path.join(dir, ns))
      ])
      assert.isFalse(fs.existsSync(dir))
    }))

  it.scoped("a dir that cannot be unmounted (EBUSY) fails naming it, and nothing is removed", () =>
    Effect.gen(function*() {
      const dir = yield* sandboxDir
      const libc = recordingLibc((c) => c.args[0] === dir ? "EBUSY" : undefined)
      const error = yield* Effect.flip(unpin(dir).pipe(Effect.provide(libc.layer)))
      assert.deepStrictEqual(error, new UnpinError({ path: dir, message: "unmount: EBUSY" }))
      assert.strictEqual(libc.calls.length, 1)
      assert.isTrue(fs.existsSync(path.join(dir, "net")))
    }))

  it.scoped("a pin that is gone already (ENOENT) is fine", () =>
    Effect.gen(function*() {
      const dir = yield* sandboxDir
      fs.rmSync(path.join(dir, "uts"))
      const libc = recordingLibc((c) =>
        c.args[0] === dir ? "EINVAL" : c.args[0] === path.join(dir, "uts") ? "ENOENT" : undefined
      )
      yield* unpin(dir).pipe(Effect.provide(libc.layer))
      assert.strictEqual(libc.calls.length, 5)
      assert.isFalse(fs.existsSync(dir))
    }))

  it.scoped("a pin that cannot be unmounted (EBUSY) fails naming it, and nothing after it is removed", () =>
    Effect.gen(function*() {
      const dir = yield* sandboxDir
      const busy = path.join(dir, "ipc")
      const libc = recordingLibc((c) => c.args[0] === busy ? "EBUSY" : c.args[0] === dir ? "EINVAL" : undefined)
      const error = yield* Effect.flip(unpin(dir).pipe(Effect.provide(libc.layer)))
      assert.deepStrictEqual(error, new UnpinError({ path: busy, message: "unmount: EBUSY" }))
      assert.deepStrictEqual(libc.calls.map((c) => c.args[0]), [
        dir,
        ...["net", "uts", "ipc"].map((ns) => path.join(dir, ns))
      ])
      // The pin stays (it is still mounted for all the code knows), and so does the user pin.
      assert.isTrue(fs.existsSync(busy))
      assert.isTrue(fs.existsSync(path.join(dir, "user")))
      assert.isFalse(fs.existsSync(path.join(dir, "net")))
    }))

  it.scoped("a real sandbox: one detach of the dir takes every pin along; nothing stays mounted", () =>
    Effect.gen(function*() {
      const root = yield* tmpDir("tank-unpin-real-")
      const dir = path.join(root, "ns")
      const mounted = () => fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(root))
      // If the test fails half-way, nothing of it stays mounted.
      yield* Effect.addFinalizer(() => unpin(dir).pipe(Effect.provide(Libc.Live), Effect.ignore))
      yield* sandbox({ dir, net: true, uts: true, ipc: true, hostname: "unpin" })
      assert.strictEqual(mounted().length, 4) // the self-bind and three pins
      const live = yield* Libc
      const calls: Array<{ target: string; ok: boolean }> = []
      const counting: LibcService = {
        ...live,
        umount2: (target, flags) =>
          live.umount2(target, flags).pipe(
            Effect.tap(() => calls.push({ target, ok: true })),
            Effect.tapError(() => Effect.sync(() => calls.push({ target, ok: false })))
          )
      }
      yield* unpin(dir).pipe(Effect.provideService(Libc, counting))
      assert.deepStrictEqual(mounted(), [])
      assert.isFalse(fs.existsSync(dir))
      // Exactly one umount2 removed mounts: the dir's.
      assert.deepStrictEqual(calls.filter((c) => c.ok).map((c) => c.target), [dir])
    }).pipe(Effect.provide(Libc.Live)))

  it.scoped("detach (a pod's teardown): nothing stays mounted, the files stay for the run dir's removal", () =>
    Effect.gen(function*() {
      const root = yield* tmpDir("tank-unpin-real-")
      const dir = path.join(root, "ns")
      const mounted = () => fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(root))
      yield* Effect.addFinalizer(() => unpin(dir).pipe(Effect.provide(Libc.Live), Effect.ignore))
      yield* sandbox({ dir, net: true, uts: true, ipc: true, hostname: "detach" })
      assert.strictEqual(mounted().length, 4)
      yield* detach(dir)
      assert.deepStrictEqual(mounted(), [])
      assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["ipc", "net", "uts"])
      // The run dir's removal is a plain recursive rm: no mount is in its way.
      fs.rmSync(root, { recursive: true })
      assert.isFalse(fs.existsSync(root))
      // Again, or with nothing there: nothing to undo.
      yield* detach(dir)
    }).pipe(Effect.provide(Libc.Live)))
})
