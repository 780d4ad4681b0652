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
      return work.pipe(
        Effect.onExit((exit: Exit.Exit<A, E>) =>
          Effect.sync(() => inflight.delete(key)).pipe(Effect.zipRight(Deferred.done(done, exit)))
        ),
        Effect.forkIn(scope),
        Effect.zipRight(Deferred.await(done))
      )
    })
}
