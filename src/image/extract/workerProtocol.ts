/**
 * Messages between the agent and the extraction worker (extractWorker.ts). Both directions are
 * decoded with Schema: a reply that does not decode is a bug surfaced as an error, never a success.
 */
import { Schema } from "effect"
import { ExtractError } from "./errors.js"

export const Job = Schema.Struct({
  blobPath: Schema.String,
  mediaType: Schema.String,
  dest: Schema.String,
  limits: Schema.optionalWith(
    Schema.Struct({
      maxBytes: Schema.optionalWith(Schema.Number, { exact: true }),
      maxEntries: Schema.optionalWith(Schema.Number, { exact: true }),
      reserveBytes: Schema.optionalWith(Schema.Number, { exact: true })
    }),
    { exact: true }
  ),
  /** Extract behind the download (extract/follow.ts); the cell is shared memory, not a copy. */
  follow: Schema.optionalWith(
    Schema.Struct({
      cell: Schema.instanceOf(SharedArrayBuffer),
      digest: Schema.String,
      size: Schema.Number
    }),
    { exact: true }
  )
})
export type Job = typeof Job.Type

/** Sent to the worker to interrupt the job: it closes its descriptors, replies, and exits. */
export const STOP = "stop"

export const Reply = Schema.Union(
  Schema.TaggedStruct("Done", { skipped: Schema.Array(Schema.String) }),
  Schema.TaggedStruct("Failed", { error: ExtractError }),
  Schema.TaggedStruct("Stopped", {})
)
export type Reply = typeof Reply.Type
