/**
 * Store rows: the on-disk shapes, validated with Schema when read back (a hand-edited or corrupted
 * row is an error naming the pod, never a silently wrong spec).
 */
import { Effect, Schema } from "effect"
import { Pod } from "../spec/Pod.js"
import { PodEvent } from "./status.js"
import { type StoredPod, StoreError } from "./Store.js"

export const PodRow = Schema.Struct({
  name: Schema.String,
  spec: Schema.String,
  revision: Schema.Number,
  created_revision: Schema.Number,
  updated_at: Schema.Number,
  restart_generation: Schema.Number,
  node: Schema.NullOr(Schema.String)
})
export type PodRow = typeof PodRow.Type

const decodeSpec = Schema.decodeUnknown(Schema.parseJson(Pod), { onExcessProperty: "error" })
export const encodeSpec = Schema.encodeSync(Schema.parseJson(Pod))

export const podFromRow = (row: unknown): Effect.Effect<StoredPod, StoreError> =>
  Effect.gen(function*() {
    const r = yield* Schema.decodeUnknown(PodRow)(row)
    const spec = yield* decodeSpec(r.spec)
    return {
      name: r.name,
      spec,
      revision: r.revision,
      createdRevision: r.created_revision,
      updatedAt: r.updated_at,
      restartGeneration: r.restart_generation,
      node: r.node
    }
  }).pipe(
    Effect.mapError((cause) =>
      new StoreError({ op: "read", message: `stored pod row is invalid: ${String(cause)}`, cause })
    )
  )

export const EventRow = Schema.Struct({ id: Schema.Number, body: Schema.String })
const decodeEventBody = Schema.decodeUnknown(Schema.parseJson(Schema.Struct(PodEvent.fields).pipe(Schema.omit("id"))))

export const eventFromRow = (row: unknown): Effect.Effect<PodEvent, StoreError> =>
  Effect.gen(function*() {
    const r = yield* Schema.decodeUnknown(EventRow)(row)
    const body = yield* decodeEventBody(r.body)
    return { ...body, id: r.id }
  }).pipe(
    Effect.mapError((cause) =>
      new StoreError({ op: "events", message: `stored event is invalid: ${String(cause)}`, cause })
    )
  )
