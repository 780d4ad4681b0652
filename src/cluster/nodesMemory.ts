/**
 * The node registry in memory: the same semantics as the etcd layer for one process (tests,
 * single-machine tooling that wants to run the scheduler over an in-memory store). A registration
 * is alive exactly as long as its scope: there is no lease to lose, so the TTL only matters on etcd.
 */
import { Clock, Effect, Layer, Option, type Scope, Stream, SubscriptionRef } from "effect"
import { ClusterError, type NodeInfo, Nodes, type NodeState } from "./Cluster.js"
import { nodeStates, sameNodes, stillReady } from "./nodeStates.js"

interface State {
  readonly records: ReadonlyMap<string, NodeInfo>
  /** name → the registration holding it (a later registration of the same name replaces it). */
  readonly alive: ReadonlyMap<string, symbol>
  readonly marks: ReadonlyMap<string, string>
  /** No lease to keep alive here: a registration beats when it starts and when it ends. */
  readonly beats: ReadonlyMap<string, string>
}

const statesOf = (s: State): ReadonlyArray<NodeState> =>
  nodeStates(s.records, new Set(s.alive.keys()), s.marks, s.beats)

const without = <K, V>(m: ReadonlyMap<K, V>, k: K): ReadonlyMap<K, V> => {
  const next = new Map(m)
  next.delete(k)
  return next
}

export const make = Effect.gen(function*() {
  const state = yield* SubscriptionRef.make<State>({
    records: new Map(),
    alive: new Map(),
    marks: new Map(),
    beats: new Map()
  })
  const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

  const register = (info: NodeInfo, _ttlSeconds: number): Effect.Effect<void, ClusterError, Scope.Scope> =>
    Effect.gen(function*() {
      const token = Symbol(info.name)
      const at = yield* nowIso
      yield* SubscriptionRef.modifyEffect(state, (s) => {
        const other = s.alive.has(info.name) ? Option.fromNullable(s.records.get(info.name)) : Option.none()
        // The same rule as on etcd: a live holder at other addresses keeps the name.
        if (Option.isSome(other) && !other.value.addresses.some((a) => info.addresses.includes(a))) {
          return Effect.fail(
            new ClusterError({
              op: `register node ${info.name}`,
              message: `node name "${info.name}" is held by a live agent (pid ${other.value.agentPid}) at ${
                other.value.addresses.join(", ") || "no address"
              }: choose another node.name`
            })
          )
        }
        return Effect.succeed(
          [undefined, {
            records: new Map(s.records).set(info.name, info),
            alive: new Map(s.alive).set(info.name, token),
            marks: without(s.marks, info.name),
            beats: new Map(s.beats).set(info.name, at)
          }] as const
        )
      })
      yield* Effect.addFinalizer(() =>
        Effect.flatMap(nowIso, (end) =>
          SubscriptionRef.update(
            state,
            (s) =>
              s.alive.get(info.name) === token
                ? { ...s, alive: without(s.alive, info.name), beats: new Map(s.beats).set(info.name, end) }
                : s
          ))
      )
    })

  const list = SubscriptionRef.get(state).pipe(Effect.map(statesOf))

  const watch: Stream.Stream<ReadonlyArray<NodeState>, ClusterError> = state.changes.pipe(
    Stream.map(statesOf),
    Stream.changesWith(sameNodes)
  )

  const markNotReady = (name: string, since: string | null) =>
    SubscriptionRef.update(state, (s) =>
      since === null
        ? { ...s, marks: without(s.marks, name) }
        : s.alive.has(name)
        ? s
        : { ...s, marks: new Map(s.marks).set(name, since) })

  const remove = (name: string) =>
    SubscriptionRef.modifyEffect(state, (s) =>
      s.alive.has(name)
        ? stillReady(name)
        : Effect.succeed(
          [s.records.has(name), {
            ...s,
            records: without(s.records, name),
            marks: without(s.marks, name),
            beats: without(s.beats, name)
          }] as const
        ))

  return Nodes.of({ register, list, watch, markNotReady, remove })
})

export const layerMemory: Layer.Layer<Nodes> = Layer.effect(Nodes, make)
