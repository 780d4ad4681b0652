/**
 * The SQLite store's layout: its tables (the migrations that make them), the columns readers select,
 * and the decoders of rows that need no Pod schema. One module owns it: the Store (sqlite.ts, rows.ts)
 * and the CLI's narrow read-only reader (psReader.ts, which must not load the whole Pod schema) both
 * read through these. Pure: no I/O.
 */
import { Either, ParseResult, Schema } from "effect"
import { quoted } from "../spec/printable.js"
import { PodStatus } from "./status.js"
import { InvalidRecord, reasonOf, type StoredPod, tooLarge } from "./Store.js"
import { keyOf, numberOr, podRecordOf, type Raw, withheld } from "./tables.js"

// The tables and the columns readers select are plain data (tables.ts: `tank ps`'s lite path reads
// them without Schema).
export {
  EVENT_COLUMNS,
  keyOf,
  LIST_PODS,
  LIST_STATUS,
  MIGRATIONS,
  numberOr,
  POD_COLUMNS,
  type Raw,
  STATUS_COLUMNS,
  withheld
} from "./tables.js"

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

/** JSON text as a value, or why not. */
export const parseJsonText = (text: string): Either.Either<unknown, string> => {
  try {
    return Either.right(JSON.parse(text))
  } catch (e) {
    return Either.left(`not JSON: ${reasonOf(e)}`)
  }
}

export const formatted = (cause: unknown): string =>
  ParseResult.isParseError(cause) ? reasonOf(ParseResult.TreeFormatter.formatErrorSync(cause)) : reasonOf(cause)

const StatusJson = Schema.parseJson(PodStatus)
const decodeStatusBody = Schema.decodeUnknownEither(StatusJson)

/** A status body's text as the Store decodes it, or why not (psReader.ts decodes through this too). */
export const statusBodyOf = (text: string): Either.Either<PodStatus, string> =>
  Either.mapLeft(decodeStatusBody(text), formatted)

/**
 * A `status` row, its body's text decoded by `bodyOf` (the Store's, or ps's memo over it:
 * psReader.ts); its body's name must be its key.
 */
export const statusRowWith = (bodyOf: (text: string) => Either.Either<PodStatus, string>) =>
(
  row: Raw
): Either.Either<PodStatus, InvalidRecord> => {
  const key = keyOf(row.name)
  const invalid = (reason: string) =>
    new InvalidRecord({ kind: "status", key, where: `status row ${quoted(key)}`, reason })
  const big = withheld(row, "body")
  if (big !== undefined) return Either.left(invalid(tooLarge(big)))
  if (typeof row.body !== "string") return Either.left(invalid(`the body is not text (${typeof row.body})`))
  return bodyOf(row.body).pipe(
    Either.mapLeft(invalid),
    Either.flatMap((s) =>
      s.name === key ? Either.right(s) : Either.left(invalid(`the status is about ${quoted(s.name)}, not its key`))
    )
  )
}

/** A `status` row as the Store reads it. */
export const statusFromRow: (row: Raw) => Either.Either<PodStatus, InvalidRecord> = statusRowWith(statusBodyOf)

/** A stored pod whose spec is `S`: a whole Pod, decoded by the Store (rows.ts) or through ps's spec memo (psReader.ts). */
export type PodRecord<S> = Omit<StoredPod, "spec"> & { readonly spec: S }

const decodeRow = Schema.decodeUnknownEither(PodRow)

/**
 * A `pods` row (or a `changes` row that records a put) as a record, its spec's text decoded by
 * `specOf` (which names each bad field); the spec's name must be its key. `where` names the row in
 * messages (`pods row "web"`); defaults to the pods table.
 */
export const podRowWith = <S extends { readonly name: string }>(
  specOf: (text: string) => Either.Either<S, string>
) =>
(row: Raw, where?: string): Either.Either<PodRecord<S>, InvalidRecord> => {
  const key = keyOf(row.name)
  const node = row.node === null || typeof row.node === "string" ? row.node : undefined
  const invalid = (reason: string) =>
    new InvalidRecord({
      kind: "pod",
      key,
      where: where ?? `pods row ${quoted(key)}`,
      reason,
      ...(numberOr(row.revision) !== undefined ? { revision: numberOr(row.revision)! } : {}),
      ...(node !== undefined ? { node } : {})
    })
  const big = withheld(row, "spec")
  if (big !== undefined) return Either.left(invalid(tooLarge(big)))
  return decodeRow(row).pipe(
    Either.mapLeft((e) => invalid(`bad columns: ${formatted(e)}`)),
    Either.flatMap((r) =>
      specOf(r.spec).pipe(
        Either.mapLeft(invalid),
        Either.flatMap((spec) =>
          spec.name === r.name
            ? Either.right(podRecordOf(r, spec))
            : Either.left(invalid(`the spec's name ${quoted(spec.name)} is not its key ${quoted(r.name)}`))
        )
      )
    )
  )
}

/** Split decoded rows into the good ones and the invalid ones. */
export const partition = <A>(
  results: ReadonlyArray<Either.Either<A, InvalidRecord>>
): { readonly good: ReadonlyArray<A>; readonly invalid: ReadonlyArray<InvalidRecord> } => {
  const good: Array<A> = []
  const invalid: Array<InvalidRecord> = []
  for (const r of results) {
    if (Either.isRight(r)) good.push(r.right)
    else invalid.push(r.left)
  }
  return { good, invalid }
}
