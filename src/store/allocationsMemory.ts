/** In-memory Allocations (tests, embedding): the same semantics as the SQLite and etcd layers. */
import { Effect, Layer, Ref } from "effect"
import {
  AddressTaken,
  type Allocation,
  Allocations,
  byPoolAndAddress,
  firstFree,
  ipNumber,
  ipText,
  PoolExhausted,
  poolSize
} from "./Allocations.js"

export const makeMemory = Effect.gen(function*() {
  const state = yield* Ref.make<ReadonlyArray<Allocation>>([])
  const same = (a: Allocation, pool: string, holder: string, nic: string) =>
    a.pool === pool && a.holder === holder && a.nic === nic
  return Allocations.of({
    allocate: (req) =>
      Ref.modify(state, (all): readonly [Effect.Effect<Allocation, PoolExhausted>, ReadonlyArray<Allocation>] => {
        const mine = all.find((a) => same(a, req.pool, req.holder, req.nic))
        if (mine !== undefined) return [Effect.succeed(mine), all]
        const taken = new Set(all.filter((a) => a.pool === req.pool).flatMap((a) => ipNumber(a.address) ?? []))
        const n = firstFree(req, taken)
        if (n === undefined) {
          return [Effect.fail(new PoolExhausted({ pool: req.pool, size: poolSize(req) })), all]
        }
        const a: Allocation = { pool: req.pool, address: ipText(n), holder: req.holder, nic: req.nic, at: Date.now() }
        return [Effect.succeed(a), [...all, a]]
      }).pipe(Effect.flatten),
    claim: (req) =>
      Ref.modify(state, (all): readonly [Effect.Effect<Allocation, AddressTaken>, ReadonlyArray<Allocation>] => {
        const cur = all.find((a) => a.pool === req.pool && a.address === req.address)
        if (cur !== undefined) {
          return same(cur, req.pool, req.holder, req.nic)
            ? [Effect.succeed(cur), all]
            : [Effect.fail(new AddressTaken({ ...req, holder: cur.holder, nic: cur.nic })), all]
        }
        const a: Allocation = { ...req, at: Date.now() }
        return [Effect.succeed(a), [...all.filter((x) => !same(x, req.pool, req.holder, req.nic)), a]]
      }).pipe(Effect.flatten),
    release: (holder, which) =>
      Ref.modify(state, (all) => {
        const gone = all.filter((a) => a.holder === holder && (which?.(a) ?? true))
        return [gone, all.filter((a) => !gone.includes(a))] as const
      }),
    list: Effect.map(Ref.get(state), (all) => [...all].sort(byPoolAndAddress))
  })
})

export const layerMemory: Layer.Layer<Allocations> = Layer.effect(Allocations, makeMemory)
