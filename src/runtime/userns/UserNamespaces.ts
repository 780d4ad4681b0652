/**
 * Host id ranges for pods in user namespaces (`hostUsers: false`): each such pod gets 65536 host
 * uids and gids of its own, the same for its whole life (across restarts and agent restarts),
 * never another pod's, released when the pod is deleted. The Runtime asks this port; the agent
 * provides it over the store (so two agents, or two nodes on one host, never hand out one range).
 */
import { Context, Effect, Layer, Ref, Schema } from "effect"

/** Container ids 0..size-1 are host uids hostUid.. and gids hostGid... */
export interface IdRange {
  readonly hostUid: number
  readonly hostGid: number
  readonly size: number
}

export const BLOCK = 65536

export class UserNamespaceError extends Schema.TaggedError<UserNamespaceError>()("UserNamespaceError", {
  pod: Schema.String,
  message: Schema.String
}) {}

export interface UserNamespacesService {
  /** The pod's range: allocated on first ask, the same ever after until released. */
  readonly rangeFor: (pod: string) => Effect.Effect<IdRange, UserNamespaceError>
  /** Give the pod's range back (the pod was deleted). A pod without one is fine. */
  readonly release: (pod: string) => Effect.Effect<void, UserNamespaceError>
  /** Who holds what, by host uid. */
  readonly list: Effect.Effect<ReadonlyArray<{ readonly pod: string; readonly range: IdRange }>, UserNamespaceError>
}

export class UserNamespaces extends Context.Tag("tank/UserNamespaces")<UserNamespaces, UserNamespacesService>() {}

/** The pool: host ids [start, start+size), whole blocks. */
export interface IdPool {
  readonly start: number
  readonly size: number
}

/** The i-th block of the pool as a pod's range (uids and gids alike). */
export const blockRange = (pool: IdPool, i: number): IdRange => ({
  hostUid: pool.start + i * BLOCK,
  hostGid: pool.start + i * BLOCK,
  size: BLOCK
})

/** The lowest block index not in `taken`, or undefined when the pool is full. */
export const firstFreeBlock = (pool: IdPool, taken: ReadonlySet<number>): number | undefined => {
  for (let i = 0; i < Math.floor(pool.size / BLOCK); i++) if (!taken.has(i)) return i
  return undefined
}

const exhausted = (pod: string, pool: IdPool) =>
  new UserNamespaceError({
    pod,
    message: `no free range of ${BLOCK} host ids for pod "${pod}": all ${
      Math.floor(pool.size / BLOCK)
    } blocks of ${pool.start}..${
      pool.start + pool.size - 1
    } are held (userNamespaces.range in the config, or the tank entry of /etc/subuid)`
  })

/** In memory, for one process (tests, embedding without a store). */
export const layerMemory = (pool: IdPool): Layer.Layer<UserNamespaces> =>
  Layer.effect(
    UserNamespaces,
    Effect.map(Ref.make(new Map<string, number>()), (held) =>
      UserNamespaces.of({
        rangeFor: (pod) =>
          Ref.modify(held, (m): [number | undefined, Map<string, number>] => {
            const own = m.get(pod)
            if (own !== undefined) return [own, m]
            const i = firstFreeBlock(pool, new Set(m.values()))
            return i === undefined ? [undefined, m] : [i, new Map(m).set(pod, i)]
          }).pipe(
            Effect.flatMap((i) =>
              i === undefined ? Effect.fail(exhausted(pod, pool)) : Effect.succeed(blockRange(pool, i))
            )
          ),
        release: (pod) =>
          Ref.update(held, (m) => {
            const next = new Map(m)
            next.delete(pod)
            return next
          }),
        list: Effect.map(Ref.get(held), (m) =>
          [...m].sort((a, b) => a[1] - b[1]).map(([pod, i]) => ({ pod, range: blockRange(pool, i) })))
      }))
  )

export { exhausted as poolExhausted }
