/**
 * What every route shares: JSON answers (never cached), errors as `{ error, message, ... }` with
 * a status that fits the failure, the request's query, and the pod-name path parameter (checked
 * to be a pod name before anything uses it).
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Schema } from "effect"
import { PodName } from "../spec/fields.js"

export const json = (body: unknown, status = 200): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(body, { status, headers: { "cache-control": "no-store" } })

export const problem = (status: number, error: string, message: string, extra: object = {}) =>
  json({ error, message, ...extra }, status)

/** Typed failures → status codes; anything unexpected is a 500 that still says what happened. */
const STATUS: Readonly<Record<string, number>> = {
  PodNotFound: 404,
  NotFound: 404,
  InvalidSpec: 422,
  BadRequest: 400,
  RequestError: 400,
  ParseError: 400,
  InvalidReference: 400,
  EventsError: 400,
  LogsError: 400,
  StoreError: 503,
  ClusterError: 503
}

export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", { message: Schema.String }) {}
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { message: Schema.String }) {}

const tagOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : "Error"

const messageOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e ? String(e.message) : String(e)

/** Run a handler; its failures become JSON problems (logged when they are the server's fault). */
export const handle = <E, R>(
  eff: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.catchAll(eff, (e) => {
    const tag = tagOf(e)
    const status = STATUS[tag] ?? 500
    const body = problem(status, tag, messageOf(e))
    return status >= 500
      ? Effect.as(Effect.logWarning(`web: ${tag}: ${messageOf(e)}`), body)
      : Effect.succeed(body)
  })

export const query: Effect.Effect<URLSearchParams, never, HttpServerRequest.HttpServerRequest> = Effect.map(
  HttpServerRequest.HttpServerRequest,
  (r) => new URL(r.url, "http://dashboard").searchParams
)

const isPodName = Schema.is(PodName)

/** The `:name` path parameter, a valid pod name (else 404: no pod can have that name). */
export const podParam: Effect.Effect<string, NotFound, HttpRouter.RouteContext> = Effect.flatMap(
  HttpRouter.params,
  (p) => {
    const name = p["name"] ?? ""
    return isPodName(name) ? Effect.succeed(name) : Effect.fail(new NotFound({ message: `pod "${name}" not found` }))
  }
)

/** A whole number query parameter in [min, max], `fallback` when absent. */
export const intParam = (
  params: URLSearchParams,
  key: string,
  fallback: number | undefined,
  min: number,
  max: number
): Effect.Effect<number | undefined, BadRequest> => {
  const v = params.get(key)
  if (v === null || v === "") return Effect.succeed(fallback)
  const n = Number(v)
  return Number.isInteger(n) && n >= min && n <= max
    ? Effect.succeed(n)
    : Effect.fail(new BadRequest({ message: `${key}: must be a whole number from ${min} to ${max} (got ${v})` }))
}
