/**
 * unpinSandbox's error handling, on a recording libc: which umount2 failures are "nothing to undo"
 * (EINVAL, ENOENT) and which stop the teardown with an UnpinError naming the pin (anything else,
 * e.g. EBUSY or EPERM, which only a broken machine produces for real).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { MNT_DETACH } from "../../src/host/libc.js"
import { unpin, UnpinError } from "../../src/runtime/unpin.js"
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
  it.scoped("unmounts every pin, user last, and removes the dir when none is mounted (EINVAL)", () =>
    Effect.gen(function*() {
      const dir = yield* sandboxDir
      const libc = recordingLibc(() => "EINVAL")
      yield* unpin(dir).pipe(Effect.provide(libc.layer))
      assert.deepStrictEqual(
        libc.calls,
        ["net", "uts", "ipc", "user"].map((ns) => ({ call: "umount2", args: [path.join(dir, ns), MNT_DETACH] }))
      )
      assert.isFalse(fs.existsSync(dir))
    }))

  it.scoped("a pin that is gone already (ENOENT) is fine", () =>
    Effect.gen(function*() {
      const dir = yield* sandboxDir
      fs.rmSync(path.join(dir, "uts"))
      const libc = recordingLibc((c) => c.args[0] === path.join(dir, "uts") ? "ENOENT" : undefined)
      yield* unpin(dir).pipe(Effect.provide(libc.layer))
      assert.strictEqual(libc.calls.length, 4)
      assert.isFalse(fs.existsSync(dir))
    }))

  it.scoped("a pin that cannot be unmounted (EBUSY) fails naming it, and nothing after it is removed", () =>
    Effect.gen(function*() {
      const dir = yield* sandboxDir
      const busy = path.join(dir, "ipc")
      const libc = recordingLibc((c) => c.args[0] === busy ? "EBUSY" : undefined)
      const error = yield* Effect.flip(unpin(dir).pipe(Effect.provide(libc.layer)))
      assert.deepStrictEqual(error, new UnpinError({ path: busy, message: "unmount: EBUSY" }))
      assert.deepStrictEqual(libc.calls.map((c) => c.args[0]), ["net", "uts", "ipc"].map((ns) => path.join(dir, ns)))
      // The pin stays (it is still mounted for all the code knows), and so does the user pin.
      assert.isTrue(fs.existsSync(busy))
      assert.isTrue(fs.existsSync(path.join(dir, "user")))
      assert.isFalse(fs.existsSync(path.join(dir, "net")))
    }))
})
