/**
 * Status writes as a feed. The Store's change feed carries desired state and its event log carries
 * transitions, but a status write has no notification of its own (the last one of a deleted pod,
 * the removal of its status, comes after its last event). The agent's reconciler writes status
 * through the Store in this process, so a decorated Store publishes the names it writes: the
 * dashboard learns of every status change at once, without polling.
 *
 * Statuses written by other processes (other nodes in cluster mode) are seen through the events
 * they append.
 */
import { Context, Effect, Layer, PubSub, Stream } from "effect"
import type { Scope } from "effect"
import { Store } from "../store/Store.js"

export class StatusFeed extends Context.Tag("tank/web/StatusFeed")<StatusFeed, {
  /** Names of pods whose status was written or removed, from the moment of subscription. */
  readonly subscribe: Effect.Effect<Stream.Stream<string>, never, Scope.Scope>
}>() {}

/**
 * Decorates the Store built by `store`: the result provides the decorated Store and the feed.
 * Slow subscribers lose old names (sliding), never block the reconciler: a reader re-reads the
 * pod anyway, and the store's events still name it.
 */
export const decorate = <E, R>(store: Layer.Layer<Store, E, R>): Layer.Layer<Store | StatusFeed, E, R> =>
  Layer.effectContext(Effect.gen(function*() {
    const inner = yield* Store
    const hub = yield* PubSub.sliding<string>(4096)
    const publish = (name: string) => PubSub.publish(hub, name)
    const decorated = Store.of({
      ...inner,
      putStatus: (s) => Effect.tap(inner.putStatus(s), () => publish(s.name)),
      putStatusAndEvent: (s, e) => Effect.tap(inner.putStatusAndEvent(s, e), () => publish(s.name)),
      deleteStatus: (name) => Effect.tap(inner.deleteStatus(name), () => publish(name))
    })
    const feed = StatusFeed.of({
      subscribe: Effect.map(PubSub.subscribe(hub), (q) => Stream.fromQueue(q))
    })
    return Context.make(Store, decorated).pipe(Context.add(StatusFeed, feed))
  })).pipe(Layer.provide(store))
