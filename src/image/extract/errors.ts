import { Schema } from "effect"
import { SysError } from "./sys.js"

export const ExtractReason = Schema.Literal(
  /** The layer tried to leave its directory: `..` escapes, writes or links through symlinks. */
  "Hostile",
  /** A size or length limit was exceeded (entry size, name length, header size). */
  "Limit",
  /** A valid but unsupported input: zstd, sparse files, unknown media or entry types. */
  "Unsupported",
  /** The blob is not a well-formed (compressed) tar, or the layer contradicts itself. */
  "Corrupt",
  /** A filesystem call failed (see `syscall` and `code`). */
  "Io"
)
export type ExtractReason = typeof ExtractReason.Type

/**
 * Layer extraction failed. `dest` may then hold a partial tree: the caller removes it (it never
 * holds anything from outside the layer, and nothing outside `dest` was touched).
 */
export class ExtractError extends Schema.TaggedError<ExtractError>()("ExtractError", {
  reason: ExtractReason,
  blob: Schema.String,
  /** The tar entry being applied, when the failure is about one. */
  entry: Schema.optional(Schema.String),
  detail: Schema.String,
  syscall: Schema.optional(Schema.String),
  /** errno name, e.g. "ENOSPC". */
  code: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const where = this.entry === undefined ? "" : ` at entry "${this.entry}"`
    return `extracting layer ${this.blob}: ${this.reason}${where}: ${this.detail}`
  }
}

/** Thrown inside the (synchronous) extraction core; converted to `ExtractError` at its edge. */
export class Refusal extends Error {
  constructor(readonly reason: Exclude<ExtractReason, "Io">, readonly detail: string) {
    super(detail)
  }
}

export const toExtractError = (e: unknown, blob: string, entry: string | undefined): ExtractError => {
  const at = entry === undefined ? {} : { entry }
  if (e instanceof ExtractError) return e
  if (e instanceof Refusal) return new ExtractError({ reason: e.reason, blob, detail: e.detail, ...at })
  if (e instanceof SysError) {
    return new ExtractError({ reason: "Io", blob, detail: e.message, syscall: e.syscall, code: e.code, ...at })
  }
  const err = e as { message?: unknown; code?: unknown; syscall?: unknown }
  const msg = typeof err?.message === "string" ? err.message : String(e)
  if (typeof err?.code === "string" && typeof err.syscall === "string") {
    return new ExtractError({ reason: "Io", blob, detail: msg, syscall: err.syscall, code: err.code, ...at })
  }
  // zlib and tar-stream report malformed input as plain errors
  if (msg === "Header exceeds max size") {
    return new ExtractError({ reason: "Limit", blob, detail: "a PAX/GNU long header exceeds 4 MiB", ...at })
  }
  return new ExtractError({ reason: "Corrupt", blob, detail: msg, ...at })
}
