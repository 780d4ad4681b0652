/**
 * The trash's remover (src/runtime/trashWorker.ts), a real worker thread: it exits once idle and the
 * next emptying starts another; a worker that dies or answers nonsense fails its job with
 * TrashWorkerFailed (what it was to remove stays, for the next emptying) and is replaced, never
 * hanging the job. Worker codes that die are the real one behind a prefix that exits first.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { makeTrashRemover, TRASH_WORKER_SOURCE } from "../../src/runtime/trashWorker.js"

/** A trash dir holding two entries (one a dir with depth), removed at the end. */
const trashWithEntries = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-trash-worker-"))
    fs.mkdirSync(path.join(dir, "run-a/c/app/upper"), { recursive: true })
    fs.writeFileSync(path.join(dir, "run-a/c/app/upper/x"), "x")
    fs.writeFileSync(path.join(dir, "run-b"), "b")
    return dir
  }),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** The real worker, which first does what `prefix` says with each job's `dir` (strict mode kept). */
const behind = (prefix: string) =>
  `"use strict"
{
  const fs = require("node:fs")
  const { parentPort } = require("node:worker_threads")
  parentPort.on("message", ({ id, dir }) => { ${prefix} })
}
${TRASH_WORKER_SOURCE}`

const until = (check: Effect.Effect<boolean>, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 300; i++) {
      if (yield* check) return
      yield* Effect.sleep("10 millis")
    }
    assert.fail(`not within 3 s: ${what}`)
  })

describe("the trash's remover (a worker thread)", () => {
  it.live("starts at the first emptying, exits once idle, and the next emptying starts another", () =>
    Effect.gen(function*() {
      const remover = yield* makeTrashRemover({ idleMs: 50 })
      assert.isFalse(yield* remover.running, "no worker before any emptying")
      const dir = yield* trashWithEntries
      assert.deepStrictEqual(yield* remover.empty(dir), [])
      assert.deepStrictEqual(fs.readdirSync(dir), [])
      yield* until(Effect.map(remover.running, (r) => !r), "the idle worker exits")
      fs.writeFileSync(path.join(dir, "run-c"), "c")
      assert.deepStrictEqual(yield* remover.empty(dir), [])
      assert.deepStrictEqual(fs.readdirSync(dir), [])
    }).pipe(Effect.scoped))

  it.live("a worker that dies fails its job (the entries stay) and the next emptying starts another", () =>
    Effect.gen(function*() {
      // Dies (exit code 3) while a `.die` file is in the dir, before the real code removes anything.
      const remover = yield* makeTrashRemover({ source: behind(`if (fs.existsSync(dir + "/.die")) process.exit(3)`) })
      const dir = yield* trashWithEntries
      fs.writeFileSync(path.join(dir, ".die"), "")
      const failed = yield* Effect.either(remover.empty(dir))
      assert.isTrue(Either.isLeft(failed), "the job failed")
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left._tag, "TrashWorkerFailed")
        assert.strictEqual(failed.left.dir, dir)
        assert.include(failed.left.reason, "exited (3)")
      }
      assert.deepStrictEqual(fs.readdirSync(dir).sort(), [".die", "run-a", "run-b"], "nothing removed")
      assert.isFalse(yield* remover.running, "the dead worker is dropped")
      fs.rmSync(path.join(dir, ".die"))
      assert.deepStrictEqual(yield* remover.empty(dir), [])
      assert.deepStrictEqual(fs.readdirSync(dir), [])
    }).pipe(Effect.scoped))

  it.live("a worker that answers nonsense fails its job and is dropped, never trusted", () =>
    Effect.gen(function*() {
      // Answers first with a reply of the wrong shape (the real reply that follows is never read).
      const remover = yield* makeTrashRemover({ source: behind(`parentPort.postMessage({ id: String(id) })`) })
      const dir = yield* trashWithEntries
      const failed = yield* Effect.either(remover.empty(dir))
      assert.isTrue(Either.isLeft(failed) && failed.left.reason.startsWith("bad reply"), String(failed))
      assert.isFalse(yield* remover.running)
    }).pipe(Effect.scoped))
})
