/**
 * Host id ranges for pods in user namespaces (`hostUsers: false`): each such pod gets 65536 host
 * uids and gids of its own, the same for its whole life (across restarts and agent restarts),
 * never another pod's, released when the pod is deleted. The Runtime asks this port; the agent
 * provides it over the store (so two agents, or two nodes on one host, never hand out one range).
 */
import { Context, Effect, Either, Layer, Ref, Schema } from "effect"
import { Allocations } from "../../store/Allocations.js"

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

/**
 * Over the store's allocations (SQLite or etcd, transactional): block i of the pool is the
 * allocation `(pool "userns", address "i")` held by the pod. Claiming a block is the same
 * compare-and-set as claiming an address, so two agents (or two nodes of one host) never hand out
 * the same ids; the pod's claim survives agent restarts. A deleted pod's claim is released by the
 * runtime's purge (and by the network service's sweep of pods no longer in the store).
 */
export const USERNS_POOL = "userns"

export const layerAllocations = (
  pool: Either.Either<IdPool, string>
): Layer.Layer<UserNamespaces, never, Allocations> =>
  Layer.effect(
    UserNamespaces,
    Effect.map(Allocations, (allocations) => {
      const fail = (pod: string) => (e: { readonly message: string }) =>
        new UserNamespaceError({ pod, message: e.message })
      const held = Effect.map(allocations.list, (all) => all.filter((a) => a.pool === USERNS_POOL))
      const rangeFor = (pod: string): Effect.Effect<IdRange, UserNamespaceError> =>
        Either.match(pool, {
          onLeft: (message) => Effect.fail(new UserNamespaceError({ pod, message })),
          onRight: (p) =>
            Effect.gen(function*() {
              for (let attempt = 0; attempt < 16; attempt++) {
                const all = yield* held.pipe(Effect.mapError(fail(pod)))
                const own = all.find((a) => a.holder === pod)
                if (own) return blockRange(p, Number(own.address))
                const i = firstFreeBlock(p, new Set(all.map((a) => Number(a.address))))
                if (i === undefined) return yield* exhausted(pod, p)
                const claimed = yield* allocations.claim({
                  pool: USERNS_POOL,
                  address: String(i),
                  holder: pod,
                  nic: "ids"
                })
                  .pipe(
                    Effect.map(() => true),
                    // Another pod took that block between our read and our claim: read again.
                    Effect.catchTag("AddressTaken", () => Effect.succeed(false)),
                    Effect.mapError(fail(pod))
                  )
                if (claimed) return blockRange(p, i)
              }
              return yield* new UserNamespaceError({ pod, message: "gave up claiming a host id range (16 races lost)" })
            })
        })
      return UserNamespaces.of({
        rangeFor,
        release: (pod) =>
          allocations.release(pod, (a) => a.pool === USERNS_POOL).pipe(Effect.asVoid, Effect.mapError(fail(pod))),
        list: Either.match(pool, {
          onLeft: () => Effect.succeed([]),
          onRight: (p) =>
            held.pipe(
              Effect.map((all) =>
                all.map((a) => ({ pod: a.holder, range: blockRange(p, Number(a.address)) }))
                  .sort((a, b) => a.range.hostUid - b.range.hostUid)
              ),
              Effect.mapError(fail("*"))
            )
        })
      })
    })
  )
