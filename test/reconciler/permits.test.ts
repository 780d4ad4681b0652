import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { makePermits } from "../../src/reconciler/permits.js"

describe("permits (FIFO semaphore)", () => {
  it.effect("at most n holders; waiters served in arrival order", () =>
    Effect.gen(function*() {
      const permits = yield* makePermits(2)
      const gates = yield* Effect.forEach([0, 1, 2, 3, 4], () => Deferred.make<void>())
      const order: Array<number> = []
      let holding = 0
      let most = 0
      const fibers = yield* Effect.forEach(gates, (gate, i) =>
        Effect.fork(permits.withPermit(Effect.gen(function*() {
          order.push(i)
          holding++
          most = Math.max(most, holding)
          yield* Deferred.await(gate)
          holding--
        }))))
      yield* Effect.yieldNow()
      assert.deepStrictEqual([order, permits.waiting(), permits.available()], [[0, 1], 3, 0])
      yield* Deferred.succeed(gates[1]!, undefined)
      yield* Deferred.succeed(gates[0]!, undefined)
      yield* Effect.yieldNow().pipe(Effect.repeatN(10))
      assert.deepStrictEqual(order, [0, 1, 2, 3])
      for (const g of gates) yield* Deferred.succeed(g, undefined)
      yield* Fiber.joinAll(fibers)
      assert.deepStrictEqual(order, [0, 1, 2, 3, 4])
      assert.strictEqual(most, 2)
      assert.deepStrictEqual([permits.available(), permits.waiting()], [2, 0])
    }))

  it.effect("an interrupted waiter leaves the queue; an interrupted holder returns its permit", () =>
    Effect.gen(function*() {
      const permits = yield* makePermits(1)
      const holder = yield* Effect.fork(permits.withPermit(Effect.never))
      yield* Effect.yieldNow()
      const waiter = yield* Effect.fork(permits.withPermit(Effect.void))
      yield* Effect.yieldNow()
      assert.strictEqual(permits.waiting(), 1)
      yield* Fiber.interrupt(waiter)
      assert.strictEqual(permits.waiting(), 0)
      yield* Fiber.interrupt(holder)
      assert.strictEqual(permits.available(), 1)
      assert.strictEqual(yield* permits.withPermit(Effect.succeed("ok")), "ok")
      assert.strictEqual(permits.available(), 1)
    }))

  it.effect("a failing holder returns its permit", () =>
    Effect.gen(function*() {
      const permits = yield* makePermits(1)
      const r = yield* Effect.either(permits.withPermit(Effect.fail("boom")))
      assert.strictEqual(r._tag, "Left")
      assert.strictEqual(permits.available(), 1)
    }))

  it.effect("thousands of waiters all get through, never more than n at once", () =>
    Effect.gen(function*() {
      const permits = yield* makePermits(4)
      let done = 0
      let holding = 0
      let most = 0
      const n = 2_000
      yield* Effect.forEach(
        Array.from({ length: n }),
        () =>
          permits.withPermit(Effect.gen(function*() {
            holding++
            most = Math.max(most, holding)
            yield* Effect.yieldNow()
            holding--
            done++
          })),
        { concurrency: "unbounded", discard: true }
      )
      assert.deepStrictEqual([done, most, permits.available(), permits.waiting()], [n, 4, 4, 0])
    }))

  it.effect("onWait runs only for a caller that has to wait, before it waits", () =>
    Effect.gen(function*() {
      const permits = yield* makePermits(1)
      const waited: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const first = yield* Effect.fork(
        permits.withPermit(Deferred.await(gate), Effect.sync(() => waited.push("first")))
      )
      yield* Effect.yieldNow()
      const second = yield* Effect.fork(
        permits.withPermit(
          Effect.sync(() => void waited.push("second ran")),
          Effect.sync(() => void waited.push("second"))
        )
      )
      yield* Effect.yieldNow().pipe(Effect.repeatN(5))
      assert.deepStrictEqual([waited, permits.waiting()], [["second"], 1])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.joinAll([first, second])
      assert.deepStrictEqual([waited, permits.available()], [["second", "second ran"], 1])
    }))
})
