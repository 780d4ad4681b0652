/**
 * Store rows: the on-disk shapes, validated with Schema when read back. A hand-edited or corrupted
 * row becomes an InvalidRecord naming its table and key (never a silently wrong spec, and never an
 * error that stops every other row from being read). Pure: no I/O.
 *
 * Readers select bodies through the `*_COLUMNS` lists below: SQLite knows a value's size without
 * reading it (`octet_length`), so a body over MAX_RECORD_BYTES comes back as NULL with its size and
 * is reported "too large" without ever being loaded or parsed.
 */
import { Either, ParseResult, Schema } from "effect"
import { decodeStoredPod } from "../spec/decode.js"
import { type Pod, Pod as PodSchema } from "../spec/Pod.js"
import { quoted } from "../spec/printable.js"
import { PodEvent, PodStatus } from "./status.js"
import { InvalidRecord, MAX_RECORD_BYTES, reasonOf, type StoredPod, tooLarge } from "./Store.js"

const guarded = (column: string, as: string) =>
  `octet_length(${column}) AS ${as}_bytes, CASE WHEN octet_length(${column}) > ${MAX_RECORD_BYTES} THEN NULL ELSE ${column} END AS ${as}`

/** Columns of `pods` (and of `changes`, whose deletes have a NULL spec). */
export const POD_COLUMNS = `name, revision, created_revision, updated_at, restart_generation, node, ${
  guarded("spec", "spec")
}`
export const STATUS_COLUMNS = `name, ${guarded("body", "body")}`
export const EVENT_COLUMNS = `id, ${guarded("body", "body")}`

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

const decodeRow = Schema.decodeUnknownEither(PodRow)
export const encodeSpec = Schema.encodeSync(Schema.parseJson(PodSchema))

/** JSON text as a value, or why not. */
export const parseJsonText = (text: string): Either.Either<unknown, string> => {
  try {
    return Either.right(JSON.parse(text))
  } catch (e) {
    return Either.left(`not JSON: ${reasonOf(e)}`)
  }
}

/**
 * A stored spec validated by the schema it was applied with (its size is bounded by the reader); the
 * reason names each bad field (`containers: ...`).
 */
export const decodeStoredSpec = (value: unknown): Either.Either<Pod, string> =>
  Either.mapLeft(
    decodeStoredPod(value),
    (issues) => reasonOf(issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; "))
  )

/**
 * Specs decoded lately, by their exact text: one write is read back several times (the change feed,
 * the reconciler's list, `get` in the next apply), and a Schema decode of a spec is most of a row's
 * cost. Equal text decodes to an equal result, so a hit is exact; the same object comes back, which
 * also keeps `canonicalJson`'s per-object key. Bounded in bytes of text (oldest out first).
 */
const specCache = new Map<string, Either.Either<Pod, string>>()
let specCacheBytes = 0
const SPEC_CACHE_BYTES = 4 << 20

const specOf = (text: string): Either.Either<Pod, string> => {
  const hit = specCache.get(text)
  if (hit !== undefined) return hit
  const decoded = parseJsonText(text).pipe(Either.flatMap(decodeStoredSpec))
  if (text.length <= SPEC_CACHE_BYTES / 16) {
    specCache.set(text, decoded)
    specCacheBytes += text.length
    for (const old of specCache.keys()) {
      if (specCacheBytes <= SPEC_CACHE_BYTES) break
      specCache.delete(old)
      specCacheBytes -= old.length
    }
  }
  return decoded
}

const formatted = (cause: unknown): string =>
  ParseResult.isParseError(cause) ? reasonOf(ParseResult.TreeFormatter.formatErrorSync(cause)) : reasonOf(cause)

type Raw = Record<string, unknown>

const keyOf = (v: unknown): string => typeof v === "string" ? v : String(v)
const numberOr = (v: unknown): number | undefined => typeof v === "number" ? v : undefined

/** The byte size a guarded select reported, if the body was withheld for being too large. */
const withheld = (row: Raw, as: string): number | undefined => {
  const bytes = row[`${as}_bytes`]
  return typeof bytes === "number" && bytes > MAX_RECORD_BYTES ? bytes : undefined
}

/**
 * A `pods` row (or a `changes` row that records a put) as the Store's record. `where` names it in
 * messages (`pods row "web"`); defaults to the pods table.
 */
export const podFromRow = (row: Raw, where?: string): Either.Either<StoredPod, InvalidRecord> => {
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
            ? Either.right<StoredPod>({
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

export const EventBodyJson = Schema.parseJson(Schema.Struct(PodEvent.fields).pipe(Schema.omit("id")))
const decodeEventBody = Schema.decodeUnknownEither(EventBodyJson)

/** An `events` row; its id is the event's id (and its key for `removeInvalid`). */
export const eventFromRow = (row: Raw): Either.Either<PodEvent, InvalidRecord> => {
  const id = numberOr(row.id)
  const key = keyOf(row.id)
  const invalid = (reason: string) =>
    new InvalidRecord({
      kind: "event",
      key,
      where: `events row ${key}`,
      reason,
      ...(id !== undefined ? { revision: id } : {})
    })
  const big = withheld(row, "body")
  if (big !== undefined) return Either.left(invalid(tooLarge(big)))
  if (id === undefined) return Either.left(invalid("the id is not a number"))
  if (typeof row.body !== "string") return Either.left(invalid(`the body is not text (${typeof row.body})`))
  return decodeEventBody(row.body).pipe(
    Either.mapLeft((e) => invalid(formatted(e))),
    Either.map((body) => ({ ...body, id }))
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

const sameRow = (a: Raw, b: Raw): boolean => {
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  for (const k of keys) if (a[k] !== b[k]) return false
  return true
}

/**
 * A decoder of whole-table reads that remembers its last result per key (`name`): a row whose
 * columns are all what they were at the last read is not decoded again. Decoding is the cost of a
 * full read (a pod spec ~0.1 ms through Schema), and the agent reads every row on each pass and
 * each status check, nearly all unchanged. Comparing every column, not a revision, keeps a row
 * changed behind the store's back (same revision, new text) from being served stale. Holds only
 * the rows of the last read.
 */
export const memoRows = <A>(decode: (row: Raw) => A): (rows: ReadonlyArray<Raw>) => Array<A> => {
  let last = new Map<string, { readonly row: Raw; readonly value: A }>()
  return (rows) => {
    const next = new Map<string, { readonly row: Raw; readonly value: A }>()
    const out = rows.map((row) => {
      const key = keyOf(row.name)
      const hit = last.get(key)
      const value = hit !== undefined && sameRow(hit.row, row) ? hit.value : decode(row)
      next.set(key, { row, value })
      return value
    })
    last = next
    return out
  }
}
