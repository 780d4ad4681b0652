/**
 * One etcd request as an Effect: a StoreError naming the endpoints, the operation and the key, and
 * retries with backoff while etcd is briefly unavailable (a member died, a leader election is under
 * way), so a write is not lost when one member of a cluster goes away.
 *
 * The etcd3 client already retries recoverable errors on other hosts (3 attempts, no backoff); what
 * is left after that (all hosts refusing for a moment, "leader changed", "request timed out") is
 * retried here for up to `retryFor`. Retrying a write whose first attempt may have committed is made
 * safe by the callers (compare-and-swap with a writeId check), not here.
 */
import { Duration, Effect, Schedule } from "effect"
import type { Namespace } from "etcd3"
import { StoreError } from "./Store.js"

/**
 * Per attempt: a member that accepts the connection but never answers must not hang the Store. A
 * write forwarded to a leader that just died is not failed by etcd until its own request timeout
 * (~5 s + 2 election timeouts); giving up sooner and retrying (safe: see the callers) resumes the
 * writer as soon as a new leader is elected.
 */
export const DEFAULT_CALL_TIMEOUT = Duration.seconds(2)

const TRANSIENT = [
  /leader changed/i,
  /no leader/i,
  /request timed out/i,
  /timed? ?out/i,
  /deadline exceeded/i,
  /unavailable/i,
  /ECONNREFUSED|ECONNRESET|EPIPE|ENOTCONN|EHOSTUNREACH/,
  /connection (closed|dropped|reset)/i,
  /too many requests/i,
  /not capable/i,
  /broken circuit|circuit is open|breaker/i,
  /No connection established/i,
  /stream (removed|ended)/i
]

/** Errors worth another attempt (the etcd3 client marks network/server faults as recoverable). */
export const isTransient = (e: unknown): boolean => {
  if (typeof e !== "object" || e === null) return false
  if (Object.getOwnPropertySymbols(e).some((s) => s.description === "RecoverableError")) return true
  const name = (e as { name?: unknown }).name
  if (name === "BrokenCircuitError" || name === "GRPCDeadlineExceededError" || name === "GRPCUnavailableError") {
    return true
  }
  const message = String((e as { message?: unknown }).message ?? "")
  return TRANSIENT.some((re) => re.test(message))
}

export const retrySchedule = (retryFor: Duration.DurationInput) =>
  Schedule.exponential("50 millis", 2).pipe(
    Schedule.union(Schedule.spaced("1 second")),
    Schedule.jittered,
    Schedule.upTo(retryFor)
  )

export interface Caller {
  /** Run `request` (built afresh per attempt), retrying transient failures. */
  <A>(op: string, key: string, request: (deadline: Date) => Promise<A>): Effect.Effect<A, StoreError>
}

export const makeCaller = (
  endpoints: ReadonlyArray<string>,
  retryFor: Duration.DurationInput,
  callTimeout: Duration.DurationInput = DEFAULT_CALL_TIMEOUT
): Caller => {
  const where = endpoints.join(",")
  const schedule = retrySchedule(retryFor)
  const timeoutMs = Duration.toMillis(callTimeout)
  return (op, key, request) =>
    Effect.tryPromise({
      try: () => request(new Date(Date.now() + timeoutMs)),
      catch: (cause) => cause
    }).pipe(
      Effect.retry({ schedule, while: isTransient }),
      Effect.mapError((cause) =>
        new StoreError({
          op,
          message: `etcd ${where}: ${op} ${key}: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
      )
    )
}

/** What the etcd Store's parts share: the namespaced client, its prefix and endpoints, the caller. */
export interface EtcdEnv {
  readonly kv: Namespace
  /** The namespace prefix, only to name full keys in errors. */
  readonly prefix: string
  /** The endpoints, for messages. */
  readonly where: string
  readonly call: Caller
}
