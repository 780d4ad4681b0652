/**
 * Unit (no root): reading a monitor's first line (hello, or `busy` instead) and retrying while
 * busy, on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, TestClock } from "effect"
import { agentBusySchedule, clientBusySchedule, retryBusy } from "../../src/runtime/helper/busy.js"
import type { HelperProtocolError } from "../../src/runtime/helper/errors.js"
import { MonitorBusy, MonitorGone } from "../../src/runtime/helper/errors.js"
import { greeting } from "../../src/runtime/helper/greeting.js"

const sock = "/run/x.sock"

describe("greeting", () => {
  it("Greeting_hello_busy_other", () => {
    expect(greeting(sock, `{"hello":{"protocol":1,"monitorPid":5,"pid":6}}`)).toEqual(
      Either.right({ protocol: 1, monitorPid: 5, pid: 6 })
    )
    const busy = greeting(
      sock,
      `{"id":0,"ok":false,"error":{"code":"busy","message":"all 32 connection slots are taken","slots":32}}`
    )
    expect(busy).toEqual(Either.left(new MonitorBusy({ socketPath: sock, slots: 32 })))
    expect(Either.getLeft(busy).pipe((o) => o._tag === "Some" && o.value.message)).toBe(
      `monitor at ${sock} is busy: all 32 connection slots are taken`
    )
    // Another error reply, another protocol version, garbage: a protocol error, never "busy".
    for (
      const line of [
        `{"id":0,"ok":false,"error":{"code":"bad_request","message":"x"}}`,
        `{"hello":{"protocol":2,"monitorPid":5,"pid":6}}`,
        "not json"
      ]
    ) {
      expect(Either.getLeft(greeting(sock, line)).pipe((o) => o._tag === "Some" && o.value._tag)).toBe(
        "HelperProtocolError"
      )
    }
  })
})

/** An effect failing with `errors` in turn, then succeeding; counts its attempts. */
const scripted = (errors: ReadonlyArray<MonitorBusy | MonitorGone | HelperProtocolError>) => {
  let attempts = 0
  const eff = Effect.suspend(() => {
    const e = errors[attempts++]
    return e ? Effect.fail(e) : Effect.succeed("connected")
  })
  return { eff, attempts: () => attempts }
}

const busy = new MonitorBusy({ socketPath: sock, slots: 32 })

describe("retryBusy", () => {
  it.effect("RetryBusy_retriesUntilASlotFrees_saysSoOnce", () =>
    Effect.gen(function*() {
      const s = scripted([busy, busy, busy])
      let told = 0
      const fiber = yield* Effect.fork(
        s.eff.pipe(retryBusy(clientBusySchedule, () => Effect.sync(() => told++)))
      )
      yield* TestClock.adjust(Duration.seconds(2))
      expect(yield* Fiber.join(fiber)).toBe("connected")
      expect(s.attempts()).toBe(4)
      expect(told).toBe(1)
    }))

  it.effect("RetryBusy_givesUpAfterTheBudget_withMonitorBusy", () =>
    Effect.gen(function*() {
      const s = scripted(Array.from({ length: 1000 }, () => busy))
      const fiber = yield* Effect.fork(Effect.either(s.eff.pipe(retryBusy(clientBusySchedule))))
      yield* TestClock.adjust(Duration.seconds(9))
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.seconds(2))
      const r = yield* Fiber.join(fiber)
      expect(r).toEqual(Either.left(busy))
      // every 500 ms for 10 s
      expect(s.attempts()).toBeGreaterThanOrEqual(20)
      expect(s.attempts()).toBeLessThanOrEqual(22)
    }))

  it.effect("RetryBusy_otherFailuresAreNotRetried", () =>
    Effect.gen(function*() {
      const gone = new MonitorGone({ socketPath: sock, reason: "ENOENT" })
      const s = scripted([busy, gone])
      const fiber = yield* Effect.fork(Effect.either(s.eff.pipe(retryBusy(agentBusySchedule))))
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* Fiber.join(fiber)).toEqual(Either.left(gone))
      expect(s.attempts()).toBe(2)
    }))
})
