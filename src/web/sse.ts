/**
 * Server-sent events: the encoding (pure) and a response built from a Stream of events. A comment
 * line goes out every 15 s so a dead connection is noticed (its write fails) and proxies keep it.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Duration, Effect, Stream } from "effect"

export interface SseEvent {
  readonly event: string
  readonly data: unknown
  readonly id?: string
}

/** `event: NAME\ndata: JSON\n\n` (JSON never contains a raw newline, so one data line). */
export const encodeEvent = (e: SseEvent): string =>
  `${e.id !== undefined ? `id: ${e.id.replace(/[\r\n]/g, "")}\n` : ""}event: ${e.event}\ndata: ${
    JSON.stringify(e.data)
  }\n\n`

const encoder = new TextEncoder()

export const HEARTBEAT = Duration.seconds(15)

/** An SSE response; the stream runs with the handler's context (it ends when the client leaves). */
export const sseResponse = <E, R>(
  events: Stream.Stream<SseEvent, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.map(Effect.context<R>(), (context) => {
    const body = Stream.merge(
      events.pipe(Stream.map(encodeEvent)),
      Stream.tick(HEARTBEAT).pipe(Stream.map(() => ": keep-alive\n\n")),
      { haltStrategy: "left" }
    ).pipe(Stream.map((s) => encoder.encode(s)))
    // The first bytes at once: the browser's EventSource reports "open" only after them.
    const opened = Stream.concat(Stream.make(encoder.encode(": open\n\n")), body)
    return HttpServerResponse.stream(Stream.provideContext(opened, context), {
      contentType: "text/event-stream",
      headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
    })
  })
