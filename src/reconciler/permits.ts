/**
 * A FIFO counting semaphore that wakes exactly one waiter per release.
 *
 * Why not `Effect.makeSemaphore`: in effect 3.22 a release resumes every waiter while permits
 * look free (each then re-checks and re-queues), so with N pods queued for bring-up each release
 * costs O(N) fiber wake-ups and a burst of N pods costs O(N²): 2 000 pods took minutes. Here a
 * release hands its permit straight to the oldest waiter.
 */
import { Deferred, Effect, Exit, FiberId } from "effect"

export interface Permits {
  /**
   * Run `self` holding one permit; waiters are served in arrival order. `onWait` runs first when
   * no permit is free (the caller has to wait), not when one is.
   */
  readonly withPermit: <A, E, R>(self: Effect.Effect<A, E, R>, onWait?: Effect.Effect<void>) => Effect.Effect<A, E, R>
  /** Permits free right now (for tests and diagnostics). */
  readonly available: () => number
  /** Fibers waiting for a permit right now. */
  readonly waiting: () => number
}

export const makePermits = (permits: number): Effect.Effect<Permits> =>
  Effect.sync(() => {
    let free = Math.max(1, permits)
    // A simple array used as a queue: shift() is O(n) in theory but V8 handles it in O(1) for
    // arrays of this size; interrupts are rare, so indexOf on interrupt is fine.
    const waiters: Array<Deferred.Deferred<void>> = []

    const release = Effect.sync(() => {
      const next = waiters.shift()
      if (next === undefined) free++
      else Deferred.unsafeDone(next, Exit.void) // the permit passes to the next waiter
    })

    const take = (onWait: Effect.Effect<void>) =>
      Effect.suspend(() => {
        if (free > 0) {
          free--
          return Effect.void
        }
        // Check and enqueue in one synchronous step: no release can slip in between.
        const d = Deferred.unsafeMake<void>(FiberId.none)
        waiters.push(d)
        return onWait.pipe(
          Effect.zipRight(Deferred.await(d)),
          Effect.onInterrupt(() =>
            Effect.suspend(() => {
              const i = waiters.indexOf(d)
              if (i >= 0) {
                waiters.splice(i, 1)
                return Effect.void
              }
              // Granted just as we were interrupted: pass the permit on.
              return release
            })
          )
        )
      })

    return {
      withPermit: <A, E, R>(self: Effect.Effect<A, E, R>, onWait: Effect.Effect<void> = Effect.void) =>
        Effect.uninterruptibleMask((restore) =>
          restore(take(onWait)).pipe(Effect.zipRight(restore(self).pipe(Effect.ensuring(release))))
        ),
      available: () => free,
      waiting: () => waiters.length
    }
  })
