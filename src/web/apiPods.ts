/**
 * /api/pods…: the pods table and its live feed, one pod's detail feed, apply (YAML/JSON text with
 * issues located on their lines), delete, restart, stats history, events, logs, and the terminal.
 * Everything goes through the public operations (src/api/Api.ts, src/observe, src/exec).
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Either, Stream } from "effect"
import * as Api from "../api/Api.js"
import type { TankConfig } from "../config/Config.js"
import { formatLogEntry, logEntryJson } from "../observe/format.js"
import { logs, type LogsOptions, type LogStream } from "../observe/logs.js"
import { Stats } from "../observe/stats.js"
import { InvalidSpec } from "../spec/decode.js"
import { Store } from "../store/Store.js"
import { podDetail, podFeed, podsFeed, readPod } from "./feeds.js"
import { BadRequest, handle, intParam, json, NotFound, podParam, problem, query } from "./http.js"
import { parseEditorText } from "./specText.js"
import { sseResponse } from "./sse.js"
import { terminalRequest, terminalSession } from "./terminal.js"
import { chartPoint, podRows } from "./views.js"

/** Bodies larger than this are refused before parsing (a pod spec is a few KB). */
const MAX_SPEC_BYTES = 1024 * 1024

const applyText = Effect.gen(function*() {
  const req = yield* HttpServerRequest.HttpServerRequest
  const length = Number(req.headers["content-length"] ?? "0")
  if (length > MAX_SPEC_BYTES) return problem(413, "TooLarge", `a spec text must be under ${MAX_SPEC_BYTES} bytes`)
  const text = yield* req.text
  const parsed = parseEditorText(text, "request")
  if (Either.isLeft(parsed)) {
    return problem(422, "InvalidSpec", parsed.left.message, { issues: [parsed.left] })
  }
  const { entries, locate } = parsed.right
  if (entries.length === 0) return problem(422, "InvalidSpec", "no pod in the text", { issues: [] })
  return yield* Api.applyAll(entries.map((e) => e.spec), "request").pipe(
    Effect.map((stored) => json({ applied: stored.map((s) => ({ name: s.name, revision: s.revision })) })),
    Effect.catchIf((e): e is InvalidSpec => e instanceof InvalidSpec, (e) => {
      const index = Number(/#(\d+)$/.exec(e.source ?? "")?.[1] ?? "1") - 1
      return Effect.succeed(problem(422, "InvalidSpec", e.message, {
        ...(e.pod !== undefined ? { pod: e.pod } : {}),
        ...(entries.length > 1 ? { document: entries[index]?.where } : {}),
        issues: locate(index, e.issues)
      }))
    })
  )
})

const list = Effect.gen(function*() {
  const store = yield* Store
  const stats = yield* Stats
  const [pods, statuses, current] = yield* Effect.all([store.list, store.listStatus, stats.all])
  return json({ pods: podRows(pods.pods, statuses.statuses, current) })
})

const detail = Effect.gen(function*() {
  const name = yield* podParam
  const { row, status, stored } = yield* readPod(yield* Store, yield* Stats, name)
  if (!row) return yield* new NotFound({ message: `pod "${name}" not found` })
  return json(podDetail(name, stored, status, row))
})

const STREAMS: ReadonlyArray<LogStream> = ["stdout", "stderr", "tty"]

/** `tail` (a number or "all"), `follow`, `container`, `stream` → logs options. */
const logOptions = (params: URLSearchParams, defaultTail: number | undefined) =>
  Effect.gen(function*() {
    const tailText = params.get("tail")
    const tail = tailText === "all" ? undefined : yield* intParam(params, "tail", defaultTail, 0, 1_000_000)
    const stream = params.get("stream")
    if (stream && !STREAMS.includes(stream as LogStream)) {
      return yield* new BadRequest({ message: `stream: one of ${STREAMS.join(", ")} (got ${stream})` })
    }
    const container = params.get("container")
    const options: LogsOptions = {
      ...(tail !== undefined ? { tail } : {}),
      ...(container ? { container } : {}),
      ...(stream ? { streams: [stream as LogStream] } : {})
    }
    return options
  })

const podLogs = Effect.gen(function*() {
  const name = yield* podParam
  const params = yield* query
  const follow = params.get("follow") === "1" || params.get("follow") === "true"
  const format = params.get("format") ?? (follow ? "sse" : "json")
  if (follow) {
    const options = yield* logOptions(params, 200)
    return yield* sseResponse(
      logs(name, { ...options, follow: true }).pipe(
        Stream.map((e) => ({ event: "line", data: logEntryJson(e) })),
        Stream.catchAll((e) => Stream.make({ event: "problem", data: { message: e.message } }))
      )
    )
  }
  if (format === "text") {
    const options = yield* logOptions(params, undefined)
    const encoder = new TextEncoder()
    // Checked before the first byte goes out: an unknown pod is a 404, not a truncated download.
    yield* Stream.runDrain(logs(name, { ...options, tail: 0 }))
    const context = yield* Effect.context<TankConfig | Store>()
    return HttpServerResponse.stream(
      logs(name, options).pipe(
        Stream.provideContext(context),
        Stream.map((e) =>
          encoder.encode(`${formatLogEntry(e, { timestamps: true, container: true })}${e.partial ? "" : "\n"}`)
        )
      ),
      {
        contentType: "text/plain; charset=utf-8",
        headers: { "content-disposition": `attachment; filename="${name}.log"`, "cache-control": "no-store" }
      }
    )
  }
  if (format !== "json") return yield* new BadRequest({ message: `format: json, text or sse (got ${format})` })
  const options = yield* logOptions(params, 200)
  const lines = yield* Stream.runCollect(logs(name, options))
  return json({ lines: [...lines].map(logEntryJson) })
})

const podStats = Effect.gen(function*() {
  const name = yield* podParam
  const history = yield* Effect.flatMap(Stats, (s) => s.history(name))
  return json({ points: history.map(chartPoint) })
})

const podEvents = Effect.gen(function*() {
  const name = yield* podParam
  const limit = (yield* intParam(yield* query, "limit", 200, 1, 5000))!
  const recent = yield* Effect.flatMap(Store, (s) => s.recentEvents(5000))
  return json({ events: recent.events.filter((e) => e.pod === name).slice(-limit) })
})

const remove = Effect.gen(function*() {
  const name = yield* podParam
  return json({ deleted: yield* Api.remove(name) })
})

const restart = Effect.gen(function*() {
  const name = yield* podParam
  const stored = yield* Api.restart(name)
  return json({ restarted: stored.name, revision: stored.revision })
})

const terminal = Effect.gen(function*() {
  const name = yield* podParam
  const req = terminalRequest(name, yield* query)
  if (typeof req === "string") return yield* new BadRequest({ message: req })
  return yield* terminalSession(req)
})

export const podRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/api/pods", handle(list)),
  HttpRouter.post("/api/pods", handle(applyText)),
  HttpRouter.get("/api/pods/stream", sseResponse(podsFeed)),
  HttpRouter.get("/api/pods/:name", handle(detail)),
  HttpRouter.del("/api/pods/:name", handle(remove)),
  HttpRouter.post("/api/pods/:name/restart", handle(restart)),
  HttpRouter.get("/api/pods/:name/stream", handle(Effect.flatMap(podParam, (n) => sseResponse(podFeed(n))))),
  HttpRouter.get("/api/pods/:name/stats", handle(podStats)),
  HttpRouter.get("/api/pods/:name/events", handle(podEvents)),
  HttpRouter.get("/api/pods/:name/logs", handle(podLogs)),
  HttpRouter.get("/api/pods/:name/terminal", handle(terminal))
)
