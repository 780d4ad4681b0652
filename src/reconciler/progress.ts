/**
 * A start's progress (the runtime's `onProgress`: "pulling" while the images step runs, then
 * "starting") as the pod's status and events show it. "pulling" is written only once the step has
 * lasted `PULLING_SHOWN_AFTER`: a cached image resolves in milliseconds, and writing pulling →
 * starting around it cost every start two status writes and two events (each woke every watcher of
 * the store) for a phase no reader could see: a third of the agent's CPU in a 100-pod burst. A real
 * download still shows "pulling" (and its event) from then on until it ends.
 */
import { Duration, Effect, Fiber, type Scope } from "effect"
import type { Progress } from "../runtime/Runtime.js"
import type { Recorder } from "./record.js"

export const PULLING_SHOWN_AFTER = Duration.millis(500)

export interface StartProgress {
  readonly onProgress: (p: Progress) => Effect.Effect<void>
  /** The start ended (run or failed): a "pulling" not yet shown never will be. */
  readonly done: Effect.Effect<void>
}

/** `scope`: the run's; the delayed write lives in it (and `done`, or the scope's end, cancels it). */
export const startProgress = (rec: Recorder, scope: Scope.Scope): StartProgress => {
  let pending: Fiber.RuntimeFiber<void> | undefined
  // Once the delay is over the write and its event go together (a cancel waits for them).
  const show = Effect.sleep(PULLING_SHOWN_AFTER).pipe(
    Effect.zipRight(Effect.uninterruptible(
      rec.transition((s) => ({ ...s, phase: "pulling" }), "pulling")
    ))
  )
  const cancel = Effect.suspend(() => {
    const f = pending
    pending = undefined
    return f === undefined ? Effect.void : Fiber.interrupt(f).pipe(Effect.asVoid)
  })
  const onProgress = (p: Progress): Effect.Effect<void> => {
    if (p === "pulling") {
      if (pending !== undefined || rec.current()?.phase === "pulling") return Effect.void
      return Effect.forkIn(show, scope).pipe(Effect.tap((f) => Effect.sync(() => (pending = f))), Effect.asVoid)
    }
    // "starting": after a "pulling" that was shown, say so; else the status already says starting.
    return cancel.pipe(Effect.zipRight(Effect.suspend(() =>
      rec.current()?.phase === p
        ? Effect.void
        : rec.transition((s) => ({ ...s, phase: p }), p)
    )))
  }
  return { onProgress, done: cancel }
}
