/**
 * The real libc binding: failures come back as LibcError with the errno and its name (calls that
 * fail harmlessly, on a temp dir that is not a mount point and on a closed fd).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  describeErrno,
  errno,
  errnoName,
  Libc,
  libc,
  LibcError,
  LOCK_EX,
  LOCK_NB,
  MNT_DETACH
} from "../../src/host/libc.js"
import { tmpDir } from "../support/tmp.js"

describe("libc", () => {
  it.scoped("Libc.Live turns a failed call into LibcError naming the call, the target and errno", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir("tank-libc-")
      const libcService = yield* Libc
      const notMounted = yield* Effect.flip(libcService.umount2(dir, MNT_DETACH))
      assert.deepStrictEqual(notMounted, new LibcError({ call: "umount2", target: dir, errno: 22, code: "EINVAL" }))
      const badFd = yield* Effect.flip(libcService.flock(1_000_000, LOCK_EX | LOCK_NB))
      assert.strictEqual(badFd.code, "EBADF")
      assert.strictEqual(badFd.message, "flock(fd 1000000): EBADF")
    }).pipe(Effect.provide(Libc.Live)))

  it("the raw functions return the C result and leave errno to read at once", () => {
    assert.strictEqual(libc.close(1_000_000), -1)
    assert.strictEqual(errnoName(errno()), "EBADF")
    assert.strictEqual(describeErrno(19), "ENODEV (No such device)")
    assert.strictEqual(errnoName(100_000), "errno 100000")
  })
})
