/**
 * The one small runner of bring-up steps (Step.ts), and their undo.
 *
 * Bring-up: the run record is created with the run dir; then stage by stage (steps/index.ts: the
 * steps of a stage need nothing of each other and run side by side) every step's journal entry is
 * written (begun), they run, their results are written (done). A stage's "done" goes out in the
 * same write as the next stage's "begun" (each is an append to the record's journal file): a
 * later agent then finds the next steps begun though they had not started, and
 * undoes them by name, which every release must handle anyway. Any failure undoes every step
 * begun, in reverse, and fails with the original cause plus whatever the undo could not do. A step
 * the pod does not need (Step.needed: no user namespace, no mounted volume, no init container) is
 * never begun: nothing of it is journaled, so nothing of it is undone from the journal.
 *
 * Undo (a stop, a failed bring-up, a leftover of another agent): every begun step's release runs,
 * in reverse, even when one fails; all failures are reported together. Only when all succeeded is
 * the run dir (and the record in it) removed; otherwise the record keeps the steps still to undo,
 * so a later teardown retries exactly those.
 */
import { Clock, Duration, Effect, Either, ExecutionStrategy, Exit, LogLevel, Option, Scope } from "effect"
import * as fs from "node:fs"
import { describeFailures, SetupFailed } from "../errors.js"
import type { PodLayout } from "../layout.js"
import { asWriteFailed, recordWriterSync, type RunRecord, type StepName, type StepResults } from "../record.js"
import { removeRunDir } from "../trash.js"
import type { AnyStep, LiveOutputs, ReleaseFailed, Run, StepDeps, Undo } from "./Step.js"

/** The run record as the run knows it, written through on every change. */
export interface Journal {
  readonly file: string
  /** Set once an undo removed the run: nothing is left to undo. */
  retired: boolean
  readonly current: () => RunRecord
  readonly update: (f: (r: RunRecord) => RunRecord) => Effect.Effect<void, SetupFailed>
}

const recordFailed = (pod: string) => (e: { readonly message: string }) =>
  new SetupFailed({ pod, step: "record", message: e.message })

/** A journal over an existing record (adoption, teardown of a leftover). */
export const journalOf = (layout: PodLayout, record: RunRecord): Journal => {
  let current = record
  // Its first write replaces the file (whatever another agent left there), the others append.
  const write = recordWriterSync(layout.record)
  return {
    file: layout.record,
    retired: false,
    current: () => current,
    // One update at a time: the new record is made, written and kept in one synchronous block, so
    // steps running side by side never base theirs on a stale record (no fiber can run in between;
    // a lock cost a semaphore's acquire and release on each of a start's writes, issue 21).
    update: (f) =>
      Effect.suspend(() => {
        const next = f(current)
        try {
          write(next)
        } catch (e) {
          return Effect.fail(recordFailed(record.pod)(asWriteFailed(layout.record, e)))
        }
        current = next
        return Effect.void
      })
  }
}

/**
 * Create the run dir and its record (phase starting, no steps yet). `onThread`: the dir is made
 * synchronously (a lone start: the pool's round trip cost more than the call, StepDeps.alone);
 * otherwise through libuv's pool: on ext4 a directory's creation slows down right after many
 * removals (a burst's teardowns), to milliseconds of the agent's thread when made synchronously.
 */
export const openJournal = (
  layout: PodLayout,
  pod: string,
  specKey: string,
  onThread = false
): Effect.Effect<Journal, SetupFailed> =>
  Effect.gen(function*() {
    const options = { recursive: true, mode: 0o700 } as const
    yield* Effect.tryPromise({
      try: async () => onThread ? fs.mkdirSync(layout.run, options) : fs.promises.mkdir(layout.run, options),
      catch: (e) => new SetupFailed({ pod, step: "record", message: `cannot create ${layout.run}: ${String(e)}` })
    })
    const record: RunRecord = {
      version: 2,
      pod,
      specKey,
      startedAt: new Date(yield* Clock.currentTimeMillis).toISOString(),
      phase: "starting",
      steps: [],
      results: {}
    }
    const journal = journalOf(layout, record)
    yield* journal.update(() => record).pipe(
      // Nothing else of the run exists yet: leave no empty run dir behind.
      Effect.tapError(() => removeRunDir(layout.run))
    )
    return journal
  })

const withResult = <K extends StepName>(r: RunRecord, name: K, result: StepResults[K] | undefined): RunRecord => {
  const results: Record<string, unknown> = { ...r.results }
  if (result === undefined) delete results[name]
  else results[name] = result
  return { ...r, results: results as StepResults }
}

export interface Bringup {
  readonly deps: StepDeps
  readonly pod: Run["pod"]
  readonly layout: PodLayout
  readonly journal: Journal
  /** The run's scope: each step's own scope is forked from it. */
  readonly runScope: Scope.Scope
  readonly progress: Run["progress"]
}

/**
 * Each step's duration at debug level (`bench/runtime.ts --steps` sums them): where a start's time
 * goes, without a profiler.
 */
const logStep = (pod: string, phase: "acquire" | "release", step: string, took: Duration.Duration) =>
  // Its annotations built only when debug is on (a start logs ten of these; issue 21: CPU per start).
  Effect.whenLogLevel(
    Effect.suspend(() =>
      Effect.logDebug("step timing").pipe(Effect.annotateLogs({ pod, phase, step, ms: Duration.toMillis(took) }))
    ),
    LogLevel.Debug
  )

/**
 * `effects` side by side, or in this fiber when there is one (most stages and undo groups are a
 * single step, and a forked fiber per step was a measurable part of a start's CPU, issue 21).
 */
const sideBySide = <A, E>(effects: ReadonlyArray<Effect.Effect<A, E>>): Effect.Effect<Array<A>, E> =>
  effects.length === 1
    ? Effect.map(effects[0]!, (a) => [a])
    : Effect.all(effects, { concurrency: "unbounded" })

/** Steps whose own scope closes its resources in parallel (a pod's containers stop under one grace period). */
const PARALLEL: ReadonlySet<StepName> = new Set(["monitors"])

/** Record `done` steps as done with their results (in one record value). */
const markDone = (r: RunRecord, done: ReadonlyArray<readonly [StepName, unknown]>): RunRecord =>
  done.reduce(
    (acc, [name, result]) => ({
      ...withResult(acc, name, result as never),
      steps: acc.steps.map((s) => s.name === name ? { ...s, done: true } : s)
    }),
    r
  )

/** The stages as this pod runs them: the steps it does not need (Step.needed) left out (pure). */
export const stagesFor = (
  stages: ReadonlyArray<ReadonlyArray<AnyStep>>,
  pod: Run["pod"]
): ReadonlyArray<ReadonlyArray<AnyStep>> => stages.map((stage) => stage.filter((s) => s.needed?.(pod) ?? true))

/**
 * Run `stages` in order (only the steps the pod needs), the steps of a stage side by side. On
 * failure the begun steps are undone (their scopes closed, their releases run) and the failure
 * carries what the undo could not do.
 * The step scopes stay in `scopes` for a later undo (a stop) of a run that came up.
 */
export const runSteps = (
  stages: ReadonlyArray<ReadonlyArray<AnyStep>>,
  b: Bringup,
  scopes: Map<StepName, Scope.CloseableScope>,
  live: LiveOutputs
): Effect.Effect<void, SetupFailed> =>
  Effect.gen(function*() {
    const pod = b.pod.name
    const hooks = b.deps.hooks
    const hook = (point: string) => hooks ? hooks.at(pod, point) : Effect.void
    /** Steps done whose "done" is not written yet (it goes with the next write). */
    let finished: ReadonlyArray<readonly [StepName, unknown]> = []
    // Only the steps this pod needs (Step.needed): a stage left with none is not journaled at all.
    const planned = stagesFor(stages, b.pod).filter((stage) => stage.length > 0)
    const acquire = (step: AnyStep) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(
          b.runScope,
          PARALLEL.has(step.name) ? ExecutionStrategy.parallel : ExecutionStrategy.sequential
        )
        scopes.set(step.name, scope)
        const run: Run = {
          deps: b.deps,
          pod: b.pod,
          layout: b.layout,
          scope,
          results: () => b.journal.current().results,
          save: (name, partial) => b.journal.update((r) => withResult(r, name, partial)),
          setPhase: (phase) => b.journal.update((r) => ({ ...r, phase })),
          live,
          hook,
          progress: b.progress
        }
        const [took, result] = yield* Effect.timed(
          Scope.extend((step.acquire as (run: Run) => ReturnType<typeof step.acquire>)(run), scope)
        )
        yield* logStep(pod, "acquire", step.name, took)
        return [step.name, result] as const
      })
    for (const stage of planned) {
      const done = finished
      yield* b.journal.update((r) => {
        const marked = markDone(r, done)
        return { ...marked, steps: [...marked.steps, ...stage.map((s) => ({ name: s.name, done: false }))] }
      })
      finished = []
      if (hooks) {
        for (const [name] of done) yield* hook(`${name}:done`)
        for (const step of stage) yield* hook(`${step.name}:begun`)
      }
      // Every step of the stage runs to its end (none is interrupted half-way by another's
      // failure); the first failure, in stage order, is the bring-up's.
      const outcomes = yield* sideBySide(stage.map((step) => Effect.either(acquire(step))))
      finished = outcomes.flatMap((o) => Either.isRight(o) ? [o.right] : [])
      const failed = outcomes.find(Either.isLeft)
      if (failed) {
        const ok = finished
        finished = []
        yield* b.journal.update((r) => markDone(r, ok))
        return yield* Effect.fail(failed.left)
      }
    }
    const now = new Date(yield* Clock.currentTimeMillis).toISOString()
    const done = finished
    yield* b.journal.update((r) => ({ ...markDone(r, done), phase: "running", startedAt: now }))
    for (const [name] of done) yield* hook(`${name}:done`)
  }).pipe(
    Effect.catchAll((cause) =>
      undoRun(
        stages,
        { deps: b.deps, pod: b.pod.name, layout: b.layout },
        Option.some(b.journal),
        scopes
      ).pipe(
        Effect.matchEffect({
          onSuccess: () => Effect.fail(cause),
          onFailure: (failures) => Effect.fail(withCleanup(cause, failures))
        })
      )
    )
  )

/** The original failure, with what its undo could not do beside it. */
export const withCleanup = (cause: SetupFailed, failures: ReadonlyArray<ReleaseFailed>): SetupFailed =>
  new SetupFailed({
    ...cause,
    message: `${cause.message}; undoing the bring-up also failed: ${describeFailures(failures)}`,
    cleanup: [...(cause.cleanup ?? []), ...failures]
  })

/**
 * Undo a run: with its journal, each begun step in reverse (its in-process scope closed first, then
 * its release with the persisted result; the steps of one stage side by side, as they came up);
 * without one (the record is unreadable and the pod was
 * deleted, or there never was one), every step's release by names. Fails with every release that
 * failed; the run dir goes only when none did.
 */
export const undoRun = (
  /** The bring-up: steps, or stages of steps (the begun steps of one stage are released side by side). */
  stages: ReadonlyArray<AnyStep | ReadonlyArray<AnyStep>>,
  u: Undo,
  journal: Option.Option<Journal>,
  scopes: ReadonlyMap<StepName, Scope.CloseableScope> = new Map()
): Effect.Effect<void, ReadonlyArray<ReleaseFailed>> =>
  Effect.gen(function*() {
    if (Option.isSome(journal) && journal.value.retired) return
    const grouped = stages.map((s) => Array.isArray(s) ? s as ReadonlyArray<AnyStep> : [s as AnyStep])
    const steps = grouped.flat()
    const byName = new Map(steps.map((s) => [s.name, s]))
    const stageOf = new Map(grouped.flatMap((g, i) => g.map((s) => [s.name, i] as const)))
    const record = Option.map(journal, (j) => j.current())
    const begun = Option.match(record, {
      onNone: () => steps.map((s) => ({ name: s.name, done: false })),
      onSome: (r) => r.steps
    })
    const releaseOne = (entry: RunRecord["steps"][number]) =>
      Effect.gen(function*() {
        const step = byName.get(entry.name)
        const scope = scopes.get(entry.name)
        const start = yield* Clock.currentTimeNanos
        if (scope) yield* Scope.close(scope, Exit.void)
        if (!step) return Either.right(undefined)
        const result = Option.getOrUndefined(record)?.results[entry.name]
        const outcome = yield* Effect.either(
          (step.release as (u: Undo, done: boolean, r: unknown) => Effect.Effect<void, ReleaseFailed>)(
            u,
            entry.done,
            result
          ).pipe(Effect.catchAllDefect((d) => Effect.fail({ step: entry.name, message: `defect: ${String(d)}` })))
        )
        yield* logStep(u.pod, "release", entry.name, Duration.nanos((yield* Clock.currentTimeNanos) - start))
        return outcome
      })
    // Consecutive entries of one stage (in reverse) go together; every other step waits for the
    // ones begun after it.
    const groups: Array<Array<RunRecord["steps"][number]>> = []
    for (const entry of [...begun].reverse()) {
      const last = groups.at(-1)
      const stage = stageOf.get(entry.name)
      if (last && stage !== undefined && stageOf.get(last[0]!.name) === stage) last.push(entry)
      else groups.push([entry])
    }
    const failures: Array<ReleaseFailed> = []
    const failed: Array<StepName> = []
    for (const group of groups) {
      const outcomes = yield* sideBySide(group.map(releaseOne))
      outcomes.forEach((outcome, i) => {
        if (Either.isLeft(outcome)) {
          failures.push(outcome.left)
          failed.push(group[i]!.name)
        }
      })
    }
    if (failures.length === 0) {
      // Renamed into the trash (removed there off the stop's path) when the runtime keeps one.
      yield* u.deps.trash ? u.deps.trash.discard(u.layout.run) : removeRunDir(u.layout.run)
      // The writable layers after the run dir (a runtime's start sweeps layers without one).
      yield* u.deps.layerTrash ? u.deps.layerTrash.discard(u.layout.layers) : removeRunDir(u.layout.layers)
      if (Option.isSome(journal)) journal.value.retired = true
      return
    }
    // Keep only what is still to undo, for the next teardown.
    if (Option.isSome(journal)) {
      yield* journal.value.update((r) => ({ ...r, steps: r.steps.filter((s) => failed.includes(s.name)) })).pipe(
        Effect.catchAll((e) => Effect.sync(() => failures.push({ step: "record", message: e.message })))
      )
    }
    return yield* Effect.fail(failures)
  }).pipe(Effect.uninterruptible)
