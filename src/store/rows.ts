/**
 * Store rows: the on-disk shapes, validated with Schema when read back. A hand-edited or corrupted
 * row becomes an InvalidRecord naming its table and key (never a silently wrong spec, and never an
 * error that stops every other row from being read). Pure: no I/O. The columns readers select (bodies
 * over MAX_RECORD_BYTES withheld) are in layout.ts.
 */
import { Either, Schema } from "effect"
import { decodeStoredPod } from "../spec/decode.js"
import { type Pod, Pod as PodSchema } from "../spec/Pod.js"
import { formatted, keyOf, numberOr, parseJsonText, podRowWith, type Raw, withheld } from "./layout.js"
import { PodEvent } from "./status.js"
import { InvalidRecord, reasonOf, type StoredPod, tooLarge } from "./Store.js"

// The row layout and the decoders that need no Pod schema live in layout.ts (the CLI's narrow
// reader, psReader.ts, uses them too); re-exported for the Store's modules.
export {
  EVENT_COLUMNS,
  parseJsonText,
  partition,
  POD_COLUMNS,
  PodRow,
  STATUS_COLUMNS,
  statusFromRow
} from "./layout.js"

export const encodeSpec = Schema.encodeSync(Schema.parseJson(PodSchema))

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

/** A stored spec's text as the Store decodes it (psReader.ts decodes through this too). */
export const specOf = (text: string): Either.Either<Pod, string> => {
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

/**
 * A `pods` row (or a `changes` row that records a put) as the Store's record. `where` names it in
 * messages (`pods row "web"`); defaults to the pods table.
 */
export const podFromRow: (row: Raw, where?: string) => Either.Either<StoredPod, InvalidRecord> = podRowWith(specOf)

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
