/**
 * Single-flight: concurrent requests for the same key (a blob digest, a layer, a ref) share one
 * execution. The work runs in the service's scope, so one caller being interrupted does not
 * cancel it for the others; it is interrupted when the service shuts down.
 */
import { Deferred, Effect, type Exit, FiberId, type Scope } from "effect"

export type SingleFlight = <A, E>(key: string, work: Effect.Effect<A, E>) => Effect.Effect<A, E>

export const makeSingleFlight = (scope: Scope.Scope): SingleFlight => {
  const inflight = new Map<string, Deferred.Deferred<any, any>>()
  return <A, E>(key: string, work: Effect.Effect<A, E>) =>
    Effect.suspend(() => {
      const running = inflight.get(key) as Deferred.Deferred<A, E> | undefined
      if (running) return Deferred.await(running)
      // Registered synchronously, so no other fiber can slip in between the lookup and the set.
      const done = Deferred.unsafeMake<A, E>(FiberId.none)
      inflight.set(key, done)
      return Effect.forkIn(work, scope).pipe(
        Effect.flatMap((fiber) => {
          // The fiber's own exit settles the waiters, even if it was interrupted before it ran
          // (e.g. the service's scope is closing).
          fiber.addObserver((exit: Exit.Exit<A, E>) => {
            inflight.delete(key)
            Deferred.unsafeDone(done, exit)
          })
          return Deferred.await(done)
        })
      )
    })
}
