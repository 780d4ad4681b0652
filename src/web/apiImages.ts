/**
 * /api/images…: the agent's image cache (the same Images service its pods pull through): list,
 * pull with progress (an SSE response to the POST), prune (what no declared pod uses with `all`).
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Effect, Schema, Stream } from "effect"
import * as Api from "../api/Api.js"
import { Images } from "../image/Images.js"
import { inUseDigests } from "../image/inUse.js"
import { handle, json } from "./http.js"
import { type SseEvent, sseResponse } from "./sse.js"

const PullBody = Schema.Struct({ ref: Schema.NonEmptyTrimmedString })
const PruneBody = Schema.Struct({ all: Schema.optionalWith(Schema.Boolean, { default: () => false }) })

const list = Effect.gen(function*() {
  const images = yield* Images
  return json({ images: yield* images.list() })
})

const pull = Effect.gen(function*() {
  const { ref } = yield* HttpServerRequest.schemaBodyJson(PullBody)
  const images = yield* Images
  return yield* sseResponse(
    images.pullWithProgress(ref).pipe(
      Stream.map((e): SseEvent => ({ event: e._tag === "Done" ? "done" : "progress", data: e })),
      Stream.catchAll((e) => Stream.make<[SseEvent]>({ event: "problem", data: { error: e._tag, message: e.message } }))
    )
  )
})

const prune = Effect.gen(function*() {
  const { all } = yield* HttpServerRequest.schemaBodyJson(PruneBody)
  const images = yield* Images
  const pods = yield* Api.list
  return json(yield* images.prune(inUseDigests(pods, yield* images.list()), { all }))
})

export const imageRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/api/images", handle(list)),
  HttpRouter.post("/api/images/pull", handle(pull)),
  HttpRouter.post("/api/images/prune", handle(prune))
)
