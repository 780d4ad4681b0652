/**
 * Removing Tank's groups, shared by both drivers.
 *
 * A group is one directory per hierarchy (v1) or one directory (v2). rmdir fails with EBUSY while
 * tasks are still in it — a SIGKILLed task leaves its cgroup asynchronously — so rmdir is retried
 * on a short exponential Schedule (1 ms doubling, capped at 50 ms between tries, within the
 * timeout). With `force`, each try first SIGKILLs what is still listed in cgroup.procs (or writes
 * v2's cgroup.kill), so a task forked between two tries is caught too.
 *
 * The dirs are walked one after the other: the fs calls are synchronous (fs.ts), so forking a
 * fiber per dir overlapped nothing and cost a fork and a join per call (issue 21). A dir that
 * fails stops the walk; a retry starts it again from the first dir (the gone ones are ENOENT: fine).
 */
import type { Duration } from "effect"
import { Effect, Schedule } from "effect"
import type { CgroupFs } from "./fs.js"
import { readOptional, subdirsOptional } from "./fs.js"
import type { CgroupError } from "./model.js"

export const DEFAULT_REMOVE_TIMEOUT: Duration.DurationInput = "5 seconds"

const retrySchedule = (timeout: Duration.DurationInput) =>
  Schedule.exponential("1 millis", 2).pipe(Schedule.union(Schedule.spaced("50 millis")), Schedule.upTo(timeout))

export const parsePids = (text: string | undefined): ReadonlyArray<number> =>
  (text ?? "").split("\n").flatMap((l) => (/^\d+$/.test(l.trim()) ? [Number(l.trim())] : []))

/**
 * SIGKILL every task in the groups: v2 does it in one write to cgroup.kill (kernel ≥ 5.14);
 * otherwise each pid listed in any of the dirs' cgroup.procs is killed once (in v1 the same
 * process is listed in every hierarchy).
 */
export const killTasks = (
  fs: CgroupFs,
  dirs: ReadonlyArray<string>,
  useCgroupKill: boolean
): Effect.Effect<void, CgroupError> =>
  Effect.forEach(
    dirs,
    (dir) =>
      (useCgroupKill ? fs.write(`${dir}/cgroup.kill`, "1").pipe(Effect.as(true)) : Effect.succeed(false)).pipe(
        Effect.catchIf((e) => e.code === "ENOENT", () => Effect.succeed(false)),
        Effect.flatMap((killed) =>
          killed ? Effect.succeed([]) : readOptional(fs, `${dir}/cgroup.procs`).pipe(Effect.map(parsePids))
        )
      )
  ).pipe(Effect.flatMap((lists) => Effect.forEach(new Set(lists.flat()), fs.kill, { discard: true })))

const rmdirGone = (fs: CgroupFs, dir: string) =>
  fs.rmdir(dir).pipe(Effect.catchIf((e) => e.code === "ENOENT", () => Effect.void))

export interface RemoveSettings {
  readonly force: boolean
  readonly timeout: Duration.DurationInput
  /** v2: kill through cgroup.kill when the kernel has it. */
  readonly cgroupKill: boolean
}

const rmdirAll = (fs: CgroupFs, dirs: ReadonlyArray<string>) =>
  Effect.forEach(dirs, (dir) => rmdirGone(fs, dir), { discard: true })

const isBusy = (e: CgroupError) => e.code === "EBUSY"

/**
 * Removes one group from every hierarchy; a dir already gone is fine. The common case (no tasks
 * left) is one rmdir per dir; only a busy group pays for killing, checking and retrying.
 */
export const removeGroup = (
  fs: CgroupFs,
  dirs: ReadonlyArray<string>,
  settings: RemoveSettings,
  /** Checked before every retry: true means "leave the group", e.g. it has (gained) a child. */
  keep: Effect.Effect<boolean, CgroupError> = Effect.succeed(false)
): Effect.Effect<void, CgroupError> => {
  const retry = Effect.if(keep, {
    onTrue: () => Effect.void,
    onFalse: () =>
      (settings.force ? killTasks(fs, dirs, settings.cgroupKill) : Effect.void).pipe(
        Effect.zipRight(rmdirAll(fs, dirs))
      )
  }).pipe(Effect.retry({ schedule: retrySchedule(settings.timeout), while: isBusy }))
  return rmdirAll(fs, dirs).pipe(Effect.catchIf(isBusy, () => retry))
}

/**
 * Removes a group and all its child groups (children first), in every hierarchy: `dirs` are
 * the group's directories. Children are only looked for when the plain rmdir is refused.
 */
export const removeTree = (
  fs: CgroupFs,
  dirs: ReadonlyArray<string>,
  settings: RemoveSettings,
  /** Child groups known to exist (validated names): removed first, without a listing. */
  children: ReadonlyArray<string> = []
): Effect.Effect<void, CgroupError> =>
  Effect.forEach(children, (child) => removeTree(fs, dirs.map((d) => `${d}/${child}`), settings), {
    discard: true
  }).pipe(
    Effect.zipRight(rmdirAll(fs, dirs)),
    Effect.catchIf(isBusy, () =>
      Effect.gen(function*() {
        const lists = yield* Effect.forEach(dirs, (dir) => subdirsOptional(fs, dir))
        yield* Effect.forEach(
          new Set(lists.flat()),
          (child) => removeTree(fs, dirs.map((d) => `${d}/${child}`), settings),
          { discard: true }
        )
        yield* removeGroup(fs, dirs, settings)
      }))
  )

/**
 * Removes a pod group once its last container group is gone. A pod group that still has child
 * groups (another container of the pod, possibly created meanwhile) is left alone (rmdir refuses
 * it with EBUSY, then the children are seen); one already gone is fine.
 */
export const removeIfChildless = (
  fs: CgroupFs,
  dirs: ReadonlyArray<string>,
  settings: RemoveSettings
): Effect.Effect<void, CgroupError> =>
  removeGroup(
    fs,
    dirs,
    settings,
    Effect.forEach(dirs, (dir) => subdirsOptional(fs, dir)).pipe(
      Effect.map((lists) => lists.some((l) => l.length > 0))
    )
  )
