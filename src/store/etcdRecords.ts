/**
 * The etcd Store's keyspace and value shapes (pure: no I/O). Every key is relative to the client's
 * namespace (the configured prefix):
 *
 *   pods/<name>     desired pod: { spec (canonical encoded form), restartGeneration, node, updatedAt, writeId }
 *   status/<name>   observed status (PodStatus JSON)
 *   events/<16 hex> pod event body; its id is the key's create revision (so ids increase store-wide)
 *
 * `revision` and `createdRevision` of a pod are etcd's own mod/create revisions, so the change feed is
 * an etcd watch and conditional writes are etcd transactions. Everything read back is decoded with
 * Schema: a corrupted value is an InvalidRecord naming its key (isolated: the other records are read
 * as usual), never a silently wrong spec. A value over MAX_RECORD_BYTES is reported without parsing.
 */
import { Either, ParseResult, Schema } from "effect"
import type { IKeyValue } from "etcd3"
import { Pod } from "../spec/Pod.js"
import { printable, quoted } from "../spec/printable.js"
import { decodeStoredSpec, parseJsonText } from "./rows.js"
import { PodEvent, type PodStatus, PodStatus as PodStatusSchema } from "./status.js"
import { InvalidRecord, MAX_RECORD_BYTES, reasonOf, type RecordKind, type StoredPod, tooLarge } from "./Store.js"

export const PODS = "pods/"
export const STATUS = "status/"
export const EVENTS = "events/"

export const podKey = (name: string): string => PODS + name
export const statusKey = (name: string): string => STATUS + name

/** The JSON value under `pods/<name>`. */
export const PodValue = Schema.Struct({
  spec: Pod,
  restartGeneration: Schema.Number,
  node: Schema.NullOr(Schema.String),
  updatedAt: Schema.Number,
  /**
   * Unique per write attempt: when a write's outcome is unknown (connection lost after commit, the
   * client retried) and the retry's compare fails, finding our own writeId proves it was applied.
   */
  writeId: Schema.String
})
export type PodValue = typeof PodValue.Type

const PodValueJson = Schema.parseJson(PodValue)
export const encodePodValue = Schema.encodeSync(PodValueJson)

/** The value's own fields, the spec still undecoded (it is validated as at apply, for a readable reason). */
const PodValueShell = Schema.Struct({ ...PodValue.fields, spec: Schema.Unknown })
const decodeShell = Schema.decodeUnknownEither(PodValueShell, { onExcessProperty: "error" })

const decodePodValue = (text: string): Either.Either<PodValue, string> =>
  parseJsonText(text).pipe(
    Either.flatMap((json) => Either.mapLeft(decodeShell(json), formatted)),
    Either.flatMap((shell) =>
      Either.map(
        Either.mapLeft(decodeStoredSpec(shell.spec), (r) => `spec: ${r}`),
        (spec) => ({ ...shell, spec })
      )
    )
  )

const EventBodyJson = Schema.parseJson(Schema.Struct(PodEvent.fields).pipe(Schema.omit("id")))
const decodeEventBody = Schema.decodeUnknownEither(EventBodyJson)
export const encodeEventBody = Schema.encodeSync(EventBodyJson)

const StatusJson = Schema.parseJson(PodStatusSchema)
const decodeStatus = Schema.decodeUnknownEither(StatusJson)
export const encodeStatus = Schema.encodeSync(StatusJson)

const formatted = (cause: unknown): string =>
  reasonOf(ParseResult.isParseError(cause) ? ParseResult.TreeFormatter.formatErrorSync(cause) : cause)

const invalid = (
  kind: RecordKind,
  key: string,
  fullKey: string,
  reason: string,
  extra: { readonly revision?: number; readonly node?: string | null } = {}
) => new InvalidRecord({ kind, key, where: `etcd key ${printable(fullKey)}`, reason, ...extra })

/** The value as text, unless it is too large to parse (then the reason). */
const textOf = (kv: IKeyValue): Either.Either<string, string> =>
  kv.value.length > MAX_RECORD_BYTES ? Either.left(tooLarge(kv.value.length)) : Either.right(kv.value.toString())

/** What a `pods/` value that fails validation still tells about its bookkeeping (for rewrites and views). */
const Bookkeeping = Schema.parseJson(Schema.Struct({
  restartGeneration: Schema.optional(Schema.Number),
  node: Schema.optional(Schema.NullOr(Schema.String))
}))
const decodeBookkeeping = Schema.decodeUnknownOption(Bookkeeping)

/** A `pods/<name>` value that cannot be read, with what a rewrite needs of it. */
export interface UnreadablePod {
  readonly record: InvalidRecord
  readonly revision: number
  readonly createdRevision: number
  readonly restartGeneration: number
  readonly node: string | null
}

/** `pods/<name>` key → name (None-ish "" for anything else). */
export const podName = (key: string): string => key.startsWith(PODS) ? key.slice(PODS.length) : ""

/**
 * A `pods/<name>` key-value as the Store's record. `key` is relative to the namespace (responses do
 * not all strip the prefix, so the caller says which key it read); `prefix` only names it in errors.
 */
export const storedPodFrom = (
  prefix: string,
  relKey: string,
  kv: IKeyValue
): Either.Either<StoredPod & { writeId: string }, UnreadablePod> => {
  const name = podName(relKey)
  const revision = Number(kv.mod_revision)
  const unreadable = (reason: string): UnreadablePod => {
    const text = textOf(kv)
    const book = Either.isRight(text) ? decodeBookkeeping(text.right) : undefined
    const node = book?._tag === "Some" ? book.value.node : undefined
    return {
      record: invalid("pod", name, prefix + relKey, reason, { revision, ...(node !== undefined ? { node } : {}) }),
      revision,
      createdRevision: Number(kv.create_revision),
      restartGeneration: book?._tag === "Some" ? book.value.restartGeneration ?? 0 : 0,
      node: node ?? null
    }
  }
  return textOf(kv).pipe(
    Either.mapLeft(unreadable),
    Either.flatMap((text) => decodePodValue(text).pipe(Either.mapLeft(unreadable))),
    Either.flatMap((v) =>
      v.spec.name === name ? Either.right(v) : Either.left(
        unreadable(`the spec's name ${quoted(v.spec.name)} is not its key ${quoted(name)}`)
      )
    ),
    Either.map((v) => ({
      name,
      spec: v.spec,
      revision,
      createdRevision: Number(kv.create_revision),
      updatedAt: v.updatedAt,
      restartGeneration: v.restartGeneration,
      node: v.node,
      writeId: v.writeId
    }))
  )
}

/** Drop the bookkeeping field the Store port does not expose. */
export const publicPod = (p: StoredPod & { writeId?: string }): StoredPod => ({
  name: p.name,
  spec: p.spec,
  revision: p.revision,
  createdRevision: p.createdRevision,
  updatedAt: p.updatedAt,
  restartGeneration: p.restartGeneration,
  node: p.node
})

/** A `status/<name>` key-value; the status must be about `<name>`. */
export const statusFrom = (prefix: string, relKey: string, kv: IKeyValue): Either.Either<PodStatus, InvalidRecord> => {
  const name = relKey.startsWith(STATUS) ? relKey.slice(STATUS.length) : relKey
  const bad = (reason: string) => invalid("status", name, prefix + relKey, reason)
  return textOf(kv).pipe(
    Either.mapLeft(bad),
    Either.flatMap((text) => decodeStatus(text).pipe(Either.mapLeft((cause) => bad(formatted(cause))))),
    Either.flatMap((s) =>
      s.name === name ? Either.right(s) : Either.left(bad(`the status is about ${quoted(s.name)}, not its key`))
    )
  )
}

/**
 * An `events/…` key-value as a PodEvent whose id is the key's create revision. `relKey` is the key
 * relative to the namespace (responses do not all strip the prefix).
 */
export const eventFrom = (prefix: string, relKey: string, kv: IKeyValue): Either.Either<PodEvent, InvalidRecord> => {
  const id = Number(kv.create_revision)
  const bad = (reason: string) => invalid("event", relKey, prefix + relKey, reason, { revision: id })
  return textOf(kv).pipe(
    Either.mapLeft(bad),
    Either.flatMap((text) => decodeEventBody(text).pipe(Either.mapLeft((cause) => bad(formatted(cause))))),
    Either.map((body) => ({ ...body, id }))
  )
}

/** A fresh key for an event (its order comes from the create revision, not the key). */
export const newEventKey = (): string => EVENTS + randomHex(8)

export const newWriteId = (): string => randomHex(12)

const randomHex = (bytes: number): string =>
  Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("")
