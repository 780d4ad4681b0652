/**
 * The step runner's undo (issue 19): every begun step is released, in reverse, even when some
 * fail; all failures come back together; the run dir stays with only the steps still to undo, so a
 * later teardown retries exactly those, and goes once they succeed. The steps here are the
 * runner's inputs (plain `{ name, acquire, release }` values), not stand-ins for the machine.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Option, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { SetupFailed } from "../../src/runtime/errors.js"
import { podLayout, runRootOf, runsDir } from "../../src/runtime/layout.js"
import { readRecord, type RunRecord, type StepName, writeRecord } from "../../src/runtime/record.js"
import { userns } from "../../src/runtime/steps/01-userns.js"
import { volumes } from "../../src/runtime/steps/02-volumes.js"
import { files } from "../../src/runtime/steps/07-files.js"
import { init } from "../../src/runtime/steps/08-init.js"
import { bringUp } from "../../src/runtime/steps/index.js"
import { type Bringup, journalOf, openJournal, runSteps, undoRun } from "../../src/runtime/steps/runner.js"
import type { AnyStep, Run, StepDeps } from "../../src/runtime/steps/Step.js"
import { decodePod } from "../../src/spec/decode.js"
import { removeLooseRunRoot } from "../support/tmp.js"

/** A data dir removed with the scope, and pod p's run dir in it. */
const tempRun = Effect.gen(function*() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-runner-"))
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      fs.rmSync(dataDir, { recursive: true, force: true })
      removeLooseRunRoot(dataDir)
    })
  )
  const layout = podLayout(dataDir, "p")
  fs.mkdirSync(layout.run, { recursive: true })
  return { dataDir, layout }
})

describe("step runner: undo", () => {
  it.effect("releases every begun step in reverse despite failures, reports them all, keeps what is left", () =>
    Effect.gen(function*() {
      const { dataDir, layout } = yield* tempRun
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
      const { dataDir, layout } = yield* tempRun
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

describe("step runner: stages (issue 21)", () => {
  const setup = Effect.gen(function*() {
    const { dataDir, layout } = yield* tempRun
    const journal = yield* openJournal(layout, "p", "{}")
    return { dataDir, layout, journal }
  })
  /** What the steps return (the record's schema checks each). */
  const results: Partial<Record<StepName, unknown>> = {
    userns: { hostUid: 100000, hostGid: 100000, size: 65536 },
    sandbox: { dir: "/run/x/ns" },
    cgroups: { name: "p-1" },
    files: {}
  }
  const bringup = (
    s: Effect.Effect.Success<typeof setup>,
    hooks: StepDeps["hooks"],
    runScope: Scope.Scope
  ): Bringup => ({
    deps: { dataDir: s.dataDir, ...(hooks ? { hooks } : {}) } as StepDeps,
    pod: { name: "p" } as Bringup["pod"],
    layout: s.layout,
    journal: s.journal,
    runScope,
    progress: () => Effect.void
  })

  it.scopedLive("runs the steps of a stage side by side; journals each stage's end with the next one's start", () =>
    Effect.gen(function*() {
      const s = yield* setup
      // Each of the two waits for the other to have begun: run one after the other, they never end.
      const begun = { sandbox: yield* Deferred.make<void>(), cgroups: yield* Deferred.make<void>() }
      const meeting = (name: "sandbox" | "cgroups", other: "sandbox" | "cgroups") =>
        ({
          name,
          acquire: () =>
            Deferred.succeed(begun[name], undefined).pipe(
              Effect.zipRight(Deferred.await(begun[other])),
              Effect.as(results[name])
            ),
          release: () => Effect.void
        }) as unknown as AnyStep
      const plain = (name: StepName) =>
        ({ name, acquire: () => Effect.succeed(results[name]), release: () => Effect.void }) as unknown as AnyStep
      const seen: Array<string> = []
      const hooks = {
        at: (_pod: string, point: string) =>
          Effect.flatMap(readRecord("p", s.layout.record), (r) =>
            Effect.sync(() => {
              const rec = Option.getOrThrow(r)
              seen.push(`${point} ${rec.steps.map((x) => `${x.name}${x.done ? "+" : ""}`).join(",")}`)
            })).pipe(Effect.orDie)
      }
      const runScope = yield* Scope.make()
      yield* runSteps(
        [[plain("userns")], [meeting("sandbox", "cgroups"), meeting("cgroups", "sandbox")], [plain("files")]],
        bringup(s, hooks, runScope),
        new Map(),
        {}
      ).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "the stage ran one step at a time" }))
      assert.deepStrictEqual(seen, [
        "userns:begun userns",
        "userns:done userns+,sandbox,cgroups",
        "sandbox:begun userns+,sandbox,cgroups",
        "cgroups:begun userns+,sandbox,cgroups",
        "sandbox:done userns+,sandbox+,cgroups+,files",
        "cgroups:done userns+,sandbox+,cgroups+,files",
        "files:begun userns+,sandbox+,cgroups+,files",
        "files:done userns+,sandbox+,cgroups+,files+"
      ])
      const rec = Option.getOrThrow(yield* readRecord("p", s.layout.record))
      assert.strictEqual(rec.phase, "running")
      assert.deepStrictEqual(rec.results.sandbox, results.sandbox)
      assert.deepStrictEqual(rec.results.cgroups, results.cgroups)
      yield* Scope.close(runScope, Exit.void)
    }))

  it.scoped("a failed step does not cut its stage short: the others finish, are recorded, and all are undone", () =>
    Effect.gen(function*() {
      const s = yield* setup
      const released: Array<string> = []
      const step = (name: StepName, acquire: Effect.Effect<unknown, SetupFailed>) =>
        ({
          name,
          acquire: () => acquire,
          release: (_u: unknown, done: boolean, result: unknown) =>
            Effect.sync(() => void released.push(`${name}:${done}:${JSON.stringify(result)}`))
        }) as unknown as AnyStep
      const failure = new SetupFailed({ pod: "p", step: "cgroup", message: "no memory controller" })
      const runScope = yield* Scope.make()
      const cause = yield* Effect.flip(runSteps(
        [[step("userns", Effect.succeed(results.userns))], [
          // Still busy when the other fails.
          step("sandbox", Effect.yieldNow().pipe(Effect.repeatN(20), Effect.as(results.sandbox))),
          step("cgroups", Effect.fail(failure))
        ], [step("files", Effect.succeed({}))]],
        bringup(s, undefined, runScope),
        new Map(),
        {}
      ))
      assert.strictEqual(cause.message, "no memory controller")
      // In reverse of begun; the sandbox finished (with its result), the cgroups did not; files never began.
      assert.deepStrictEqual(released, [
        "cgroups:false:undefined",
        `sandbox:true:${JSON.stringify(results.sandbox)}`,
        `userns:true:${JSON.stringify(results.userns)}`
      ])
      assert.isFalse(fs.existsSync(s.layout.run))
    }))
})

describe("step runner: steps a pod does not need (issue 21)", () => {
  it.scopedLive("are neither begun, journaled, hooked nor released; a stage left empty is not journaled", () =>
    Effect.gen(function*() {
      const { dataDir, layout } = yield* tempRun
      fs.rmSync(layout.run, { recursive: true })
      const journal = yield* openJournal(layout, "p", "{}")
      const ran: Array<string> = []
      const step = (name: StepName, needed?: boolean) =>
        ({
          name,
          ...(needed === undefined ? {} : { needed: () => needed }),
          acquire: () => Effect.sync(() => (ran.push(`acquire ${name}`), name === "sandbox" ? { dir: "/x" } : {})),
          release: () => Effect.sync(() => void ran.push(`release ${name}`))
        }) as unknown as AnyStep
      const seen: Array<string> = []
      const hooks = { at: (_pod: string, point: string) => Effect.sync(() => void seen.push(point)) }
      const runScope = yield* Scope.make()
      const deps = { dataDir, hooks } as unknown as StepDeps
      const stages = [[step("userns", false)], [step("sandbox"), step("cgroups", false)], [step("init", false)], [
        step("files", true)
      ]]
      const scopes = new Map<StepName, Scope.CloseableScope>()
      yield* runSteps(
        stages,
        { deps, pod: { name: "p" } as Bringup["pod"], layout, journal, runScope, progress: () => Effect.void },
        scopes,
        {}
      )
      assert.deepStrictEqual(seen, ["sandbox:begun", "sandbox:done", "files:begun", "files:done"])
      const rec = Option.getOrThrow(yield* readRecord("p", layout.record))
      assert.deepStrictEqual(rec.steps, [{ name: "sandbox", done: true }, { name: "files", done: true }])
      // The journal's lines: the first record, then one per stage boundary actually run, then "running".
      assert.strictEqual(fs.readFileSync(layout.record, "utf8").trim().split("\n").length, 4)
      yield* undoRun(stages, { deps, pod: "p", layout }, Option.some(journal), scopes)
      assert.deepStrictEqual(ran, ["acquire sandbox", "acquire files", "release files", "release sandbox"])
      yield* Scope.close(runScope, Exit.void)
    }))

  it.effect("userns, volumes and init are needed exactly when the pod has a user namespace, a mount, init containers", () =>
    Effect.gen(function*() {
      const needed = (step: AnyStep, spec: object) =>
        Effect.map(
          decodePod({ name: "p", containers: [{ name: "a", image: "busybox" }], ...spec }),
          (pod) => step.needed?.(pod) ?? true
        )
      assert.isFalse(yield* needed(userns, {}))
      assert.isTrue(yield* needed(userns, { hostUsers: false }))
      assert.isFalse(yield* needed(volumes, { volumes: [{ name: "v" }] }), "declared, mounted by none")
      assert.isTrue(
        yield* needed(volumes, {
          volumes: [{ name: "v" }],
          containers: [{ name: "a", image: "busybox", mounts: [{ volume: "v", path: "/v" }] }]
        })
      )
      assert.isTrue(
        yield* needed(volumes, {
          volumes: [{ name: "v" }],
          initContainers: [{ name: "i", image: "busybox", mounts: [{ volume: "v", path: "/v" }] }]
        })
      )
      assert.isFalse(yield* needed(init, {}))
      assert.isTrue(yield* needed(init, { initContainers: [{ name: "i", image: "busybox" }] }))
      // Every other step always runs.
      for (const s of bringUp.filter((s) => !["userns", "volumes", "init"].includes(s.name))) {
        assert.isTrue(yield* needed(s, {}), s.name)
      }
    }))
})

describe("step runner: undo of a stage (issue 21)", () => {
  it.scopedLive("releases the begun steps of one stage side by side, the stages in reverse", () =>
    Effect.gen(function*() {
      const { dataDir, layout } = yield* tempRun
      const released: Array<string> = []
      // sandbox and cgroups each wait for the other's release to have begun: one after the other, never.
      const begun = { sandbox: yield* Deferred.make<void>(), cgroups: yield* Deferred.make<void>() }
      const step = (name: StepName, other?: "sandbox" | "cgroups") =>
        ({
          name,
          acquire: () => Effect.void,
          release: () =>
            (other
              ? Deferred.succeed(begun[name as "sandbox" | "cgroups"], undefined).pipe(
                Effect.zipRight(Deferred.await(begun[other]))
              )
              : Effect.void).pipe(Effect.zipRight(Effect.sync(() => void released.push(name))))
        }) as unknown as AnyStep
      const stages = [[step("userns")], [step("sandbox", "cgroups"), step("cgroups", "sandbox")], [step("files")]]
      // The undo is uninterruptible: disconnected, so a timeout can fail the test instead of hanging it.
      yield* undoRun(stages, { deps: { dataDir } as StepDeps, pod: "p", layout }, Option.none()).pipe(
        Effect.disconnect,
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "released one at a time" })
      )
      assert.strictEqual(released[0], "files")
      assert.sameMembers(released.slice(1, 3), ["sandbox", "cgroups"])
      assert.strictEqual(released[3], "userns")
    }))
})

describe("a lone start's file calls on the agent's thread (StepDeps.alone)", () => {
  /** Every entry under `dir`: its mode, owner and (for files) text. */
  const tree = (dir: string): Record<string, string> => {
    const out: Record<string, string> = {}
    const walk = (d: string) => {
      for (const name of fs.readdirSync(d).sort()) {
        const p = path.join(d, name)
        const st = fs.lstatSync(p)
        out[path.relative(dir, p)] = `${st.mode.toString(8)} ${st.uid}:${st.gid}` +
          (st.isFile() ? ` ${fs.readFileSync(p, "utf8")}` : "")
        if (st.isDirectory()) walk(p)
      }
    }
    walk(dir)
    return out
  }

  /** The run dir, its record and the files step of one pod, made on the thread or through the pool. */
  const bringFiles = (dataDir: string, onThread: boolean) =>
    Effect.gen(function*() {
      const pod = yield* decodePod({
        name: "p",
        hostname: "box",
        initContainers: [{ name: "i", image: "busybox" }],
        containers: [{ name: "a", image: "busybox" }, { name: "b", image: "busybox" }]
      })
      const layout = podLayout(dataDir, "p")
      const journal = yield* openJournal(layout, "p", "{}", onThread)
      const scope = yield* Scope.make()
      const run = {
        deps: { dataDir, host: { dns: Effect.succeed(["192.0.2.53"]) }, alone: () => onThread } as unknown as StepDeps,
        pod,
        layout,
        scope,
        live: { ids: { hostUid: 200_000, hostGid: 200_001, size: 65536 }, addresses: ["10.1.2.3"], dns: [] }
      } as unknown as Run
      yield* files.acquire(run)
      yield* Scope.close(scope, Exit.void)
      return { journal, layout }
    })

  it.scoped("makes the same run dir, record, /etc files and owned overlay dirs as a burst's pool calls", () =>
    Effect.gen(function*() {
      const { dataDir: a } = yield* tempRun
      const { dataDir: b } = yield* tempRun
      for (const d of [a, b]) fs.rmSync(runsDir(d), { recursive: true })
      const thread = yield* bringFiles(a, true)
      const pool = yield* bringFiles(b, false)
      const strip = (t: Record<string, string>) =>
        Object.fromEntries(Object.entries(t).filter(([k]) => !k.endsWith("pod.json")))
      // The run root's part and the data dir's (writable layers, logs).
      const made = { ...tree(runRootOf(a)), ...tree(a) }
      assert.deepStrictEqual(strip(made), strip({ ...tree(runRootOf(b)), ...tree(b) }))
      // What both must have made: the pod root's writable layer, the pod's /etc files, a private run dir.
      assert.match(made[path.join("layers", "p", "a", "upper")]!, / 200000:200001$/)
      assert.match(made[path.join("run", "p", "c", "a", "merged")]!, /^40755 /)
      assert.match(made[path.join("run", "p", "etc", "hostname")]!, /200000:200001 box\n$/)
      assert.strictEqual(fs.statSync(thread.layout.run).mode & 0o777, 0o700)
      assert.strictEqual(thread.journal.current().phase, "starting")
      assert.deepStrictEqual(Option.getOrThrow(yield* readRecord("p", pool.layout.record)).pod, "p")
    }))

  it.scoped("fails with the run dir named when it cannot be made, on the thread as through the pool", () =>
    Effect.gen(function*() {
      const { dataDir } = yield* tempRun
      // A file where the run dirs' parent must be.
      fs.rmSync(runsDir(dataDir), { recursive: true })
      fs.writeFileSync(runsDir(dataDir), "")
      for (const onThread of [true, false]) {
        const failed = yield* Effect.flip(openJournal(podLayout(dataDir, "p"), "p", "{}", onThread))
        assert.strictEqual(failed.step, "record")
        assert.include(failed.message, `cannot create ${podLayout(dataDir, "p").run}`)
      }
    }))
})
