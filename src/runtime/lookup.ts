/**
 * The runtime's query port: what other modules (exec, attach, stats, the dashboard) may know of a
 * pod's run on this machine, from any process, without the agent. It reads the run records the
 * runtime writes; nothing else outside `src/runtime/` does.
 */
import { Effect, Option, Schema } from "effect"
import * as fs from "node:fs"
import { TankConfig } from "../config/Config.js"
import { PodName } from "../spec/fields.js"
import { podLayout, runsDir } from "./layout.js"
import type { RecordUnreadable } from "./record.js"
import { readRecord, type RunView, viewOf } from "./record.js"

export type { ContainerRecord, RunView } from "./record.js"
export { RecordUnreadable, stillOurs } from "./record.js"

/**
 * The run of `pod` (None: no run on this machine, or not a pod name). Its `phase` says whether its
 * workloads were released yet (`starting`: no container is running). A record that exists but
 * cannot be read fails with RecordUnreadable.
 */
export const lookup = (pod: string): Effect.Effect<Option.Option<RunView>, RecordUnreadable, TankConfig> =>
  Effect.gen(function*() {
    // The name becomes a path: anything that is not a pod name has no run.
    if (!Schema.is(PodName)(pod)) return Option.none()
    const { dataDir } = yield* TankConfig
    return Option.map(yield* readRecord(pod, podLayout(dataDir, pod).record), viewOf)
  })

export interface Runs {
  /** Runs whose workloads were released (phase proceeding or running), by pod name. */
  readonly running: ReadonlyArray<RunView>
  /** Runs whose record cannot be read (their pods read `unknown` in the status). */
  readonly unreadable: ReadonlyArray<RecordUnreadable>
}

/** Every run on this machine. */
export const runs: Effect.Effect<Runs, never, TankConfig> = Effect.gen(function*() {
  const { dataDir } = yield* TankConfig
  let names: Array<string>
  try {
    names = fs.readdirSync(runsDir(dataDir)).sort()
  } catch {
    return { running: [], unreadable: [] }
  }
  const found = yield* Effect.forEach(names, (n) => Effect.either(lookup(n)))
  return {
    running: found.flatMap((f) =>
      f._tag === "Right" && Option.isSome(f.right) && f.right.value.phase !== "starting" ? [f.right.value] : []
    ),
    unreadable: found.flatMap((f) => f._tag === "Left" ? [f.left] : [])
  }
})
