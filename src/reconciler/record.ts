/**
 * A pod's observed status and events, as its worker records them. One recorder per pod and all
 * writes go through it (under a lock), so there is exactly one writer per pod; writes that change
 * nothing but the timestamp are skipped. A status and the event that tells of it go in one store
 * write (`transition`): one commit per transition instead of two, both seen together. Store failures are logged, never fatal: the next
 * transition writes the whole status again.
 */
import { Clock, Effect, Fiber } from "effect"
import type { LastExit, NewPodEvent, PodEventType, PodStatus } from "../store/status.js"
import type { StoreService } from "../store/Store.js"
import type { Ending } from "./restarts.js"

/** The status fields a worker decides (name, agent pid and timestamp are filled in here). */
export type StatusBody = Omit<PodStatus, "name" | "agentPid" | "updatedAt">

export interface EventDetails {
  /** The container the event is about (pods with several containers). */
  readonly container?: string
  /** Overrides the pod's host pid (a container's own). */
  readonly hostPid?: number
  readonly restarts?: number
  readonly message?: string
  readonly lastExit?: LastExit
  readonly delayMs?: number
}

export interface Recorder {
  readonly name: string
  readonly current: () => StatusBody | undefined
  /** The status as last written to the store (undefined before the first write or after remove). */
  readonly written: () => PodStatus | undefined
  /** Apply a change to the status and write it if anything changed. */
  readonly update: (f: (prev: StatusBody) => StatusBody) => Effect.Effect<void>
  /**
   * Apply a change to the status and write it with the event that tells of it, in one store write
   * (`putStatusAndEvent`); the event alone when the status did not change. Same outcome as `update`
   * then `event`, one commit fewer, and no other write of the pod between the two.
   */
  readonly transition: (
    f: (prev: StatusBody) => StatusBody,
    type: PodEventType,
    details?: EventDetails
  ) => Effect.Effect<void>
  /** Apply a change without writing it: the next `update` writes it along (or `update(s => s)`). */
  readonly stage: (f: (prev: StatusBody) => StatusBody) => Effect.Effect<void>
  readonly event: (type: PodEventType, details?: EventDetails) => Effect.Effect<void>
  /**
   * Write a status change with its event (`transition`) in a fiber of its own, the recorder's lock
   * taken before this returns: the caller goes on at once while every later status write (and so
   * every event that follows one) waits for it. Yields the wait for it.
   */
  readonly announce: (
    f: (prev: StatusBody) => StatusBody,
    type: PodEventType
  ) => Effect.Effect<Effect.Effect<void>>
  /** Delete the status (the pod is gone). */
  readonly remove: Effect.Effect<void>
  /** Write the current status again, changed or not (the stored one was found unreadable). */
  readonly rewrite: Effect.Effect<void>
}

export const isoAt = (millis: number): string => new Date(millis).toISOString()

export const now = Clock.currentTimeMillis

/** How a run (or bring-up) ended, as status and events record it. */
export const toLastExit = (ending: Ending, at: number): LastExit => {
  const when = isoAt(at)
  switch (ending._tag) {
    case "Exited":
      return { code: ending.code, at: when }
    case "Signaled":
      return { signal: ending.signal, ...(ending.oomKilled && { oomKilled: true }), at: when }
    case "SetupFailed":
      return { setupError: { step: ending.step, message: ending.message }, at: when }
  }
}

/** Drop optional fields (exactOptionalPropertyTypes forbids setting them to undefined). */
export const without = <K extends keyof StatusBody>(s: StatusBody, ...keys: ReadonlyArray<K>): StatusBody => {
  const out: Record<string, unknown> = { ...s }
  for (const k of keys) delete out[k]
  return out as StatusBody
}

export const makeRecorder = (
  store: StoreService,
  name: string,
  agentPid: number,
  initial: StatusBody
): Effect.Effect<Recorder> =>
  Effect.gen(function*() {
    const lock = yield* Effect.makeSemaphore(1)
    let current: StatusBody | undefined
    let seed: StatusBody = initial
    let lastWritten: string | undefined
    let written: PodStatus | undefined

    const writeHeld = (f: (prev: StatusBody) => StatusBody, force: boolean) =>
      Effect.gen(function*() {
        const next = f(current ?? seed)
        current = next
        const key = JSON.stringify(next)
        if (key === lastWritten && !force) return
        const status: PodStatus = { ...next, name, agentPid, updatedAt: isoAt(yield* now) }
        yield* store.putStatus(status).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              lastWritten = key
              written = status
            })
          ),
          Effect.tap(() => Effect.logDebug(`pod ${name}: status ${next.phase} written`)),
          Effect.catchAll((e) => Effect.logWarning(`status of pod ${name} not written: ${e.message}`))
        )
      })
    const write = (f: (prev: StatusBody) => StatusBody, force: boolean) => lock.withPermits(1)(writeHeld(f, force))
    const update = (f: (prev: StatusBody) => StatusBody) => write(f, false)
    const stage = (f: (prev: StatusBody) => StatusBody) =>
      lock.withPermits(1)(Effect.sync(() => {
        current = f(current ?? seed)
      }))

    /** `status`: what watchers deliver for this event (src/api/watch.ts); none once it is removed. */
    const eventOf = (
      type: PodEventType,
      details: EventDetails,
      s: StatusBody,
      status: PodStatus | undefined,
      at: number
    ): NewPodEvent => ({
      at: isoAt(at),
      pod: name,
      type,
      ...(s.hostPid !== undefined && { hostPid: s.hostPid }),
      restarts: s.restarts,
      ...details,
      ...(status !== undefined && { status })
    })
    const logEvent = (type: PodEventType, details: EventDetails) =>
      Effect.logDebug(`pod ${name}: ${type}${details.message ? ` (${details.message})` : ""}`)

    const event = (type: PodEventType, details: EventDetails = {}) =>
      Effect.gen(function*() {
        yield* logEvent(type, details)
        yield* store.appendEvent(eventOf(type, details, current ?? seed, written, yield* now)).pipe(
          Effect.catchAll((e) => Effect.logWarning(`event ${type} of pod ${name} not written: ${e.message}`))
        )
      })

    const transitionHeld = (f: (prev: StatusBody) => StatusBody, type: PodEventType, details: EventDetails = {}) =>
      Effect.gen(function*() {
        const next = f(current ?? seed)
        current = next
        const key = JSON.stringify(next)
        if (key === lastWritten) return yield* event(type, details)
        const at = yield* now
        const status: PodStatus = { ...next, name, agentPid, updatedAt: isoAt(at) }
        yield* logEvent(type, details)
        yield* store.putStatusAndEvent(status, eventOf(type, details, next, status, at)).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              lastWritten = key
              written = status
            })
          ),
          Effect.tap(() => Effect.logDebug(`pod ${name}: status ${next.phase} written`)),
          Effect.catchAll((e) =>
            Effect.logWarning(`status of pod ${name} and its event ${type} not written: ${e.message}`)
          )
        )
      })
    const transition = (f: (prev: StatusBody) => StatusBody, type: PodEventType, details?: EventDetails) =>
      lock.withPermits(1)(transitionHeld(f, type, details))

    // Uninterruptible from the lock's taking to its release: an interrupted caller (a delete during
    // the start) still gets both written, in order, before its own writes.
    const announce = (f: (prev: StatusBody) => StatusBody, type: PodEventType) =>
      Effect.uninterruptible(
        lock.take(1).pipe(
          Effect.zipRight(Effect.fork(transitionHeld(f, type).pipe(Effect.ensuring(lock.release(1))))),
          Effect.map((fiber) => Effect.asVoid(Fiber.await(fiber)))
        )
      )

    const remove = lock.withPermits(1)(Effect.gen(function*() {
      current = undefined
      seed = initial
      lastWritten = undefined
      written = undefined
      yield* store.deleteStatus(name).pipe(
        Effect.catchAll((e) => Effect.logWarning(`status of pod ${name} not deleted: ${e.message}`))
      )
    }))

    return {
      name,
      current: () => current,
      written: () => written,
      update,
      transition,
      stage,
      event,
      announce,
      remove,
      rewrite: write((s) => s, true)
    }
  })
