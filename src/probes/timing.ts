/**
 * The timing of one liveness probe over one start of a container, as the kubelet runs it: wait
 * `initialDelaySeconds`, then probe every `periodSeconds`; a probe that takes longer than
 * `timeoutSeconds` has failed (and is interrupted, which stops its exec); `failureThreshold`
 * failures in a row make the container unhealthy, any success resets the count. No process or timer
 * of its own: a fiber that sleeps on the agent's clock (TestClock in tests).
 */
import { Duration, Effect } from "effect"
import type { Probe } from "../spec/probes.js"

export interface ProbeOutcome {
  readonly ok: boolean
  /** What the probe saw, for the event: `exit 1: cat: can't open '/tmp/healthy'`. */
  readonly detail: string
}

export interface Unhealthy extends ProbeOutcome {
  /** Failures in a row (= the probe's failureThreshold). */
  readonly failures: number
}

/** One probe run, bounded by the probe's timeout. */
export const probeOnce = (
  probe: Pick<Probe, "timeoutSeconds">,
  check: Effect.Effect<ProbeOutcome>
): Effect.Effect<ProbeOutcome> =>
  check.pipe(
    Effect.timeoutTo({
      duration: Duration.seconds(probe.timeoutSeconds),
      onTimeout: (): ProbeOutcome => ({
        ok: false,
        detail: `no answer within ${probe.timeoutSeconds}s (timeoutSeconds)`
      }),
      onSuccess: (r) => r
    })
  )

/** Resolves with the last failure once the container is unhealthy; runs forever while it is healthy. */
export const untilUnhealthy = (probe: Probe, check: Effect.Effect<ProbeOutcome>): Effect.Effect<Unhealthy> =>
  Effect.gen(function*() {
    yield* Effect.sleep(Duration.seconds(probe.initialDelaySeconds))
    let failures = 0
    while (true) {
      const r = yield* probeOnce(probe, check)
      failures = r.ok ? 0 : failures + 1
      if (failures >= probe.failureThreshold) return { ...r, failures }
      yield* Effect.sleep(Duration.seconds(probe.periodSeconds))
    }
  })

/**
 * A readiness probe over one container start: not ready until `successThreshold` successes in a
 * row, then ready until `failureThreshold` failures in a row (the kubelet's rules). `onChange` is
 * called at each flip with the outcome that caused it. Runs until interrupted.
 */
export const readinessLoop = (
  probe: Probe,
  check: Effect.Effect<ProbeOutcome>,
  onChange: (ready: boolean, outcome: ProbeOutcome, inARow: number) => Effect.Effect<void>,
  /** Each failure while not ready (after the flip's `onChange`): the status says why, with the latest output. */
  onFailure: (outcome: ProbeOutcome) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<never> =>
  Effect.gen(function*() {
    yield* Effect.sleep(Duration.seconds(probe.initialDelaySeconds))
    let ready = false
    let successes = 0
    let failures = 0
    while (true) {
      const r = yield* probeOnce(probe, check)
      successes = r.ok ? successes + 1 : 0
      failures = r.ok ? 0 : failures + 1
      if (!ready && successes >= probe.successThreshold) {
        ready = true
        yield* onChange(true, r, successes)
      } else if (ready && failures >= probe.failureThreshold) {
        ready = false
        yield* onChange(false, r, failures)
      }
      if (!ready && !r.ok) yield* onFailure(r)
      yield* Effect.sleep(Duration.seconds(probe.periodSeconds))
    }
  })

/**
 * A startup probe over one container start: resolves `started` at its first success, or unhealthy
 * after `failureThreshold` failures in a row (then the container is treated as liveness treats it).
 * The container's other probes wait for it.
 */
export const untilStarted = (
  probe: Probe,
  check: Effect.Effect<ProbeOutcome>,
  /** Each failure before it passes (the status says why the container is not ready yet). */
  onFailure: (outcome: ProbeOutcome) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<{ readonly started: true } | (Unhealthy & { readonly started: false })> =>
  Effect.gen(function*() {
    yield* Effect.sleep(Duration.seconds(probe.initialDelaySeconds))
    let failures = 0
    while (true) {
      const r = yield* probeOnce(probe, check)
      if (r.ok) return { started: true } as const
      failures++
      if (failures >= probe.failureThreshold) return { ...r, failures, started: false } as const
      yield* onFailure(r)
      yield* Effect.sleep(Duration.seconds(probe.periodSeconds))
    }
  })
