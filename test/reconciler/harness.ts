/** Shared helpers for the reconciler's actuator tests (fake runtime, real Store layers). */
import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import { Reconciler, type ReconcilerConfigInput, type ReconcilerService } from "../../src/reconciler/Reconciler.js"
import { layer } from "../../src/reconciler/ReconcilerLive.js"
import { decodePodEither } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"
import * as Memory from "../../src/store/memory.js"
import type { PodEventType, PodStatus } from "../../src/store/status.js"
import { Store, type StoreService } from "../../src/store/Store.js"
import { type FakeRuntime, type FakeRuntimeOptions, makeFakeRuntime } from "../support/fakeRuntime.js"

export const podSpec = (name: string, extra: Record<string, unknown> = {}): Pod => {
  const r = decodePodEither({ name, containers: [{ name: "app", image: "busybox" }], ...extra })
  if (r._tag === "Left") throw r.left
  return r.right
}

/** Unit-tier defaults: the real backoff defaults (TestClock makes them free), no periodic resync. */
export const testConfig: ReconcilerConfigInput = { resyncIntervalMs: 3_600_000, debounceMs: 100, agentPid: 4242 }

export interface Running {
  readonly rec: ReconcilerService
  /** Close the reconciler's layer scope (agent shutdown). */
  readonly close: Effect.Effect<void>
}

/** Start a reconciler over the given store and runtime; it runs until `close` (or the test's scope ends). */
export const startReconciler = (store: StoreService, fake: FakeRuntime, config: ReconcilerConfigInput = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const ctx = yield* Layer.buildWithScope(
      layer({ ...testConfig, ...config }).pipe(Layer.provide(Layer.succeed(Store, store)), Layer.provide(fake.layer)),
      scope
    ).pipe(Effect.orDie)
    const close = Scope.close(scope, Exit.void)
    yield* Effect.addFinalizer(() => close)
    return { rec: Context.get(ctx, Reconciler), close } satisfies Running
  })

/** Let other fibers run until `check` holds (no clock moves: TestClock stays where the test put it). */
export const eventually = (label: string, check: Effect.Effect<boolean, unknown>, rounds = 2000) =>
  Effect.gen(function*() {
    for (let i = 0; i < rounds; i++) {
      if (yield* Effect.orDie(check)) return
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`timed out waiting for: ${label}`)
  })

export const statusOf = (store: StoreService, name: string): Effect.Effect<PodStatus | undefined> =>
  store.getStatus(name).pipe(Effect.map(Option.getOrUndefined), Effect.orDie)

export const phaseIs = (store: StoreService, name: string, phase: PodStatus["phase"]) =>
  statusOf(store, name).pipe(Effect.map((s) => s?.phase === phase))

export const eventsOf = (store: StoreService, name: string) =>
  store.recentEvents(10_000).pipe(Effect.map(({ events }) => events.filter((e) => e.pod === name)), Effect.orDie)

export const typesOf = (store: StoreService, name: string): Effect.Effect<ReadonlyArray<PodEventType>> =>
  eventsOf(store, name).pipe(Effect.map((es) => es.map((e) => e.type)))

/** Let every runnable fiber run for a while (for "nothing happens" checks). */
export const settle = Effect.yieldNow().pipe(Effect.repeatN(500))

/** A memory store, a fake runtime and a reconciler over them, for one test. */
export const setup = (options: FakeRuntimeOptions = {}, config: ReconcilerConfigInput = {}) =>
  Effect.gen(function*() {
    const store = yield* Memory.make
    const fake = yield* makeFakeRuntime(options)
    const { close, rec } = yield* startReconciler(store, fake, config)
    return { store, fake, rec, close }
  })
