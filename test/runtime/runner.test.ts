/**
 * The step runner's undo (issue 19): every begun step is released, in reverse, even when some
 * fail; all failures come back together; the run dir stays with only the steps still to undo, so a
 * later teardown retries exactly those, and goes once they succeed. The steps here are the
 * runner's inputs (plain `{ name, acquire, release }` values), not stand-ins for the machine.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { podLayout } from "../../src/runtime/layout.js"
import { readRecord, type RunRecord, type StepName, writeRecord } from "../../src/runtime/record.js"
import { journalOf, undoRun } from "../../src/runtime/steps/runner.js"
import type { AnyStep, StepDeps } from "../../src/runtime/steps/Step.js"

describe("step runner: undo", () => {
  it.effect("releases every begun step in reverse despite failures, reports them all, keeps what is left", () =>
    Effect.gen(function*() {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-runner-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dataDir, { recursive: true, force: true })))
      const layout = podLayout(dataDir, "p")
      fs.mkdirSync(layout.run, { recursive: true })
      const released: Array<string> = []
      const failing = new Set<StepName>(["network", "cgroups"])
      const step = (name: StepName): AnyStep =>
        ({
          name,
          acquire: () => Effect.succeed(undefined),
          release: (_u: unknown, done: boolean) =>
            Effect.suspend(() => {
              released.push(`${name}:${done}`)
              return failing.has(name) ? Effect.fail({ step: name, message: `${name} is stuck` }) : Effect.void
            })
        }) as unknown as AnyStep
      const steps = (["sandbox", "network", "cgroups", "files", "monitors"] as const).map(step)
      const record: RunRecord = {
        version: 2,
        pod: "p",
        specKey: "{}",
        startedAt: new Date(0).toISOString(),
        phase: "starting",
        // The agent died inside "files": begun, not done; "monitors" never began.
        steps: [
          { name: "sandbox", done: true },
          { name: "network", done: true },
          { name: "cgroups", done: true },
          { name: "files", done: false }
        ],
        results: {}
      }
      yield* writeRecord(layout.record, record)
      const undo = { deps: { dataDir } as StepDeps, pod: "p", layout }

      const failures = yield* Effect.flip(undoRun(steps, undo, Option.some(journalOf(layout, record))))
      assert.deepStrictEqual(released, ["files:false", "cgroups:true", "network:true", "sandbox:true"])
      assert.deepStrictEqual(failures, [
        { step: "cgroups", message: "cgroups is stuck" },
        { step: "network", message: "network is stuck" }
      ])
      const left = Option.getOrThrow(yield* readRecord("p", layout.record))
      assert.deepStrictEqual(left.steps.map((s) => s.name), ["network", "cgroups"])

      // A later teardown (another agent, from the record) retries exactly those; then the run goes.
      failing.clear()
      released.length = 0
      yield* undoRun(steps, undo, Option.some(journalOf(layout, left)))
      assert.deepStrictEqual(released, ["cgroups:true", "network:true"])
      assert.isFalse(fs.existsSync(layout.run))
    }).pipe(Effect.scoped))

  it.effect("without a record (unreadable, pod deleted) every step is released by name, none skipped", () =>
    Effect.gen(function*() {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-runner-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dataDir, { recursive: true, force: true })))
      const layout = podLayout(dataDir, "p")
      fs.mkdirSync(layout.run, { recursive: true })
      const released: Array<string> = []
      const steps = (["sandbox", "cgroups", "monitors"] as const).map((name) =>
        ({
          name,
          acquire: () => Effect.succeed(undefined),
          release: (_u: unknown, done: boolean) =>
            name === "cgroups"
              ? Effect.die("boom")
              : Effect.sync(() => void released.push(`${name}:${done}`))
        }) as unknown as AnyStep
      )
      const failures = yield* Effect.flip(
        undoRun(steps, { deps: { dataDir } as StepDeps, pod: "p", layout }, Option.none())
      )
      assert.deepStrictEqual(released, ["monitors:false", "sandbox:false"])
      assert.deepStrictEqual(failures.map((f) => f.step), ["cgroups"])
      assert.include(failures[0]!.message, "boom")
      assert.isTrue(fs.existsSync(layout.run), "kept: something may be left")
    }).pipe(Effect.scoped))
})
