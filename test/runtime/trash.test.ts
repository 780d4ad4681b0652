/**
 * The run dirs' trash (src/runtime/trash.ts): a discarded run dir is gone from its place when
 * `discard` returns (a rename), and removed from the trash in the background; what a crash left in
 * the trash is removed when the next runtime starts and after each removal; a closed runtime
 * leaves the trash empty; the removal (a worker thread) never goes through a symlink or a mount.
 * Real directories in a temp data dir.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Scope } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { makeTrash, removeRunDir, trashDir } from "../../src/runtime/trash.js"

const tempDataDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "tank-trash-"))),
  (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
)

/** A run dir with some depth to it (a container's layer dirs, a read-only dir as overlayfs leaves). */
const makeRun = (dataDir: string, pod: string) => {
  const run = path.join(dataDir, "run", pod)
  for (const d of ["ns", "etc", "c/app/upper/bin", "c/app/work/work", "c/app/merged"]) {
    fs.mkdirSync(path.join(run, d), { recursive: true })
  }
  fs.writeFileSync(path.join(run, "pod.json"), "{}\n")
  fs.writeFileSync(path.join(run, "c/app/upper/bin/x"), "x")
  fs.chmodSync(path.join(run, "c/app/work/work"), 0o000)
  return run
}

const entries = (dataDir: string) => fs.existsSync(trashDir(dataDir)) ? fs.readdirSync(trashDir(dataDir)) : []

/** Until the trash is empty, at most ~5 s (the background removal takes milliseconds). */
const trashEmptied = (dataDir: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500 && entries(dataDir).length > 0; i++) yield* Effect.sleep("10 millis")
    return entries(dataDir)
  })

describe("run dir trash", () => {
  it.live("a discarded run dir is gone at once; the trash empties itself, also of a crash's leftovers", () =>
    Effect.gen(function*() {
      const dataDir = yield* tempDataDir
      // An agent killed between the rename and the removal left this.
      const crashed = makeRun(dataDir, "crashed")
      fs.mkdirSync(trashDir(dataDir), { recursive: true })
      fs.renameSync(crashed, path.join(trashDir(dataDir), "crashed.1.2.0"))

      const scope = yield* Scope.make()
      const trash = yield* Scope.extend(makeTrash(dataDir), scope)
      assert.deepStrictEqual(yield* trashEmptied(dataDir), [], "emptied when the runtime starts")

      // Another leftover, found by the removal that follows the next discard.
      const later = makeRun(dataDir, "later")
      fs.renameSync(later, path.join(trashDir(dataDir), "later.1.2.0"))
      const run = makeRun(dataDir, "p")
      yield* trash.discard(run)
      assert.isFalse(fs.existsSync(run), "gone from its place when discard returns")
      assert.deepStrictEqual(fs.readdirSync(path.join(dataDir, "run")), [])
      assert.deepStrictEqual(yield* trashEmptied(dataDir), [], "emptied after the removal")

      // A new run of the same name right away, discarded again; the closed runtime leaves nothing.
      const again = makeRun(dataDir, "p")
      yield* trash.discard(again)
      yield* trash.discard(path.join(dataDir, "run", "never-was"))
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(entries(dataDir), [])
      assert.isFalse(fs.existsSync(again))
    }).pipe(Effect.scoped))

  it.live("removeRunDir removes a run dir in place (a read-only dir in it too); a missing one is no failure", () =>
    Effect.gen(function*() {
      const dataDir = yield* tempDataDir
      const run = makeRun(dataDir, "p")
      yield* removeRunDir(run)
      assert.isFalse(fs.existsSync(run))
      yield* removeRunDir(run)
      assert.deepStrictEqual(entries(dataDir), [], "nothing went through the trash")
    }).pipe(Effect.scoped))

  it.live("the removal never follows a symlink out of the trash", () =>
    Effect.gen(function*() {
      const dataDir = yield* tempDataDir
      const outside = path.join(dataDir, "outside")
      fs.mkdirSync(outside)
      fs.writeFileSync(path.join(outside, "keep"), "k")
      const run = makeRun(dataDir, "p")
      fs.symlinkSync(outside, path.join(run, "c/app/upper/link"))
      fs.symlinkSync(path.join(outside, "keep"), path.join(run, "file-link"))
      const trash = yield* makeTrash(dataDir)
      yield* trash.discard(run)
      yield* trash.empty
      assert.deepStrictEqual(entries(dataDir), [])
      assert.strictEqual(fs.readFileSync(path.join(outside, "keep"), "utf8"), "k")
    }).pipe(Effect.scoped))

  // Needs root (a tmpfs mount). The old removal recursed into the mount and failed at its rmdir (EBUSY).
  it.live.skipIf(process.getuid?.() !== 0)(
    "an entry with a mount under it is not removed through: left in the trash and logged, removed once unmounted",
    () =>
      Effect.gen(function*() {
        const dataDir = yield* tempDataDir
        const run = makeRun(dataDir, "p")
        const at = path.join(run, "c/app/merged")
        execFileSync("mount", ["-t", "tmpfs", "tank-trash-test", at])
        /** Where the tmpfs is now (it moves with the run dir); unmounted at the end, also on failure. */
        let mountedAt: string | undefined = at
        const unmount = () => {
          if (mountedAt !== undefined) execFileSync("umount", ["-l", mountedAt])
          mountedAt = undefined
        }
        yield* Effect.addFinalizer(() => Effect.try(unmount).pipe(Effect.ignore))
        fs.writeFileSync(path.join(at, "data"), "d")
        const logged: Array<string> = []
        const logger = Logger.make(({ message }) => {
          logged.push(Array.isArray(message) ? message.join(" ") : String(message))
        })
        const trash = yield* makeTrash(dataDir)
        yield* trash.discard(run)
        yield* trash.empty.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        const [entry] = entries(dataDir)
        assert.isDefined(entry, "left in the trash")
        const moved = path.join(trashDir(dataDir), entry!, "c/app/merged")
        mountedAt = moved
        assert.strictEqual(fs.readFileSync(path.join(moved, "data"), "utf8"), "d", "the mounted files are untouched")
        assert.isTrue(
          logged.some((l) => l.includes("a mount is left at") && l.includes(entry!)),
          `logged: ${logged.join(" | ")}`
        )
        unmount()
        yield* trash.empty
        assert.deepStrictEqual(entries(dataDir), [])
      }).pipe(Effect.scoped)
  )
})
