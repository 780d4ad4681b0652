/**
 * The SQLite store's layout: its tables (the migrations that make them), the columns readers select,
 * and the decoders of rows that need no Pod schema. One module owns it: the Store (sqlite.ts, rows.ts)
 * and the CLI's narrow read-only reader (psReader.ts, which must not load the whole Pod schema) both
 * read through these. Pure: no I/O.
 */
import { Either, ParseResult, Schema } from "effect"
import { quoted } from "../spec/printable.js"
import { PodStatus } from "./status.js"
import { InvalidRecord, MAX_RECORD_BYTES, reasonOf, type StoredPod, tooLarge } from "./Store.js"

/** The schema's versions, one per `PRAGMA user_version` step (sqlite.ts `migrate` applies them). */
export const MIGRATIONS: ReadonlyArray<string> = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT INTO meta (key, value) VALUES ('revision', 0);
   CREATE TABLE pods (name TEXT PRIMARY KEY, spec TEXT NOT NULL, revision INTEGER NOT NULL,
                      created_revision INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                      restart_generation INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE changes (revision INTEGER PRIMARY KEY, name TEXT NOT NULL, spec TEXT,
                         created_revision INTEGER, updated_at INTEGER, restart_generation INTEGER);
   CREATE TABLE status (name TEXT PRIMARY KEY, body TEXT NOT NULL);
   CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);`,
  // Cluster mode: the node a pod is bound to (NULL: not placed). Existing files upgrade in place.
  `ALTER TABLE pods ADD COLUMN node TEXT;
   ALTER TABLE changes ADD COLUMN node TEXT;`
]

/**
 * Readers select bodies through the `*_COLUMNS` lists below: SQLite knows a value's size without
 * reading it (`octet_length`), so a body over MAX_RECORD_BYTES comes back as NULL with its size and
 * is reported "too large" without ever being loaded or parsed.
 */
const guarded = (column: string, as: string) =>
  `octet_length(${column}) AS ${as}_bytes, CASE WHEN octet_length(${column}) > ${MAX_RECORD_BYTES} THEN NULL ELSE ${column} END AS ${as}`

/** Columns of `pods` (and of `changes`, whose deletes have a NULL spec). */
export const POD_COLUMNS = `name, revision, created_revision, updated_at, restart_generation, node, ${
  guarded("spec", "spec")
}`
export const STATUS_COLUMNS = `name, ${guarded("body", "body")}`
export const EVENT_COLUMNS = `id, ${guarded("body", "body")}`

/** Every pod, and every status, as `store.list` and `store.listStatus` read them (and psReader.ts). */
export const LIST_PODS = `SELECT ${POD_COLUMNS} FROM pods ORDER BY name`
export const LIST_STATUS = `SELECT ${STATUS_COLUMNS} FROM status ORDER BY name`

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

export type Raw = Record<string, unknown>

export const keyOf = (v: unknown): string => typeof v === "string" ? v : String(v)
export const numberOr = (v: unknown): number | undefined => typeof v === "number" ? v : undefined

/** The byte size a guarded select reported, if the body was withheld for being too large. */
export const withheld = (row: Raw, as: string): number | undefined => {
  const bytes = row[`${as}_bytes`]
  return typeof bytes === "number" && bytes > MAX_RECORD_BYTES ? bytes : undefined
}

const StatusJson = Schema.parseJson(PodStatus)
const decodeStatusBody = Schema.decodeUnknownEither(StatusJson)

/** A `status` row; its body's name must be its key. */
export const statusFromRow = (row: Raw): Either.Either<PodStatus, InvalidRecord> => {
  const key = keyOf(row.name)
  const invalid = (reason: string) =>
    new InvalidRecord({ kind: "status", key, where: `status row ${quoted(key)}`, reason })
  const big = withheld(row, "body")
  if (big !== undefined) return Either.left(invalid(tooLarge(big)))
  if (typeof row.body !== "string") return Either.left(invalid(`the body is not text (${typeof row.body})`))
  return decodeStatusBody(row.body).pipe(
    Either.mapLeft((e) => invalid(formatted(e))),
    Either.flatMap((s) =>
      s.name === key ? Either.right(s) : Either.left(invalid(`the status is about ${quoted(s.name)}, not its key`))
    )
  )
}

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
            ? Either.right({
              name: r.name,
              spec,
              revision: r.revision,
              createdRevision: r.created_revision,
              updatedAt: r.updated_at,
              restartGeneration: r.restart_generation,
              node: r.node
            })
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
