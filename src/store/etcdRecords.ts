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
 * Schema: a corrupted value is a StoreError naming its key, never a silently wrong spec.
 */
import { Either, ParseResult, Schema } from "effect"
import type { IKeyValue } from "etcd3"
import { Pod } from "../spec/Pod.js"
import { PodEvent, type PodStatus, PodStatus as PodStatusSchema } from "./status.js"
import { type StoredPod, StoreError } from "./Store.js"

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
const decodePodValue = Schema.decodeUnknownEither(PodValueJson, { onExcessProperty: "error" })
export const encodePodValue = Schema.encodeSync(PodValueJson)

const EventBodyJson = Schema.parseJson(Schema.Struct(PodEvent.fields).pipe(Schema.omit("id")))
const decodeEventBody = Schema.decodeUnknownEither(EventBodyJson)
export const encodeEventBody = Schema.encodeSync(EventBodyJson)

const StatusJson = Schema.parseJson(PodStatusSchema)
const decodeStatus = Schema.decodeUnknownEither(StatusJson)
export const encodeStatus = Schema.encodeSync(StatusJson)

const invalid = (op: string, key: string, cause: unknown) =>
  new StoreError({
    op,
    message: `etcd value at ${key} is invalid: ${
      ParseResult.isParseError(cause) ? ParseResult.TreeFormatter.formatErrorSync(cause) : String(cause)
    }`,
    cause
  })

/** `pods/<name>` key → name (None-ish "" for anything else). */
export const podName = (key: string): string => key.startsWith(PODS) ? key.slice(PODS.length) : ""

/**
 * A `pods/<name>` key-value as the Store's record. `key` is relative to the namespace (responses do
 * not all strip the prefix, so the caller says which key it read); `prefix` only names it in errors.
 */
export const storedPodFrom = (
  op: string,
  prefix: string,
  relKey: string,
  kv: IKeyValue
): Either.Either<StoredPod & { writeId: string }, StoreError> => {
  const key = prefix + relKey
  const name = podName(relKey)
  return decodePodValue(kv.value.toString()).pipe(
    Either.mapLeft((cause) => invalid(op, key, cause)),
    Either.flatMap((v) =>
      v.spec.name === name ? Either.right(v) : Either.left(
        invalid(op, key, `the spec's name "${v.spec.name}" is not the key's "${name}"`)
      )
    ),
    Either.map((v) => ({
      name,
      spec: v.spec,
      revision: Number(kv.mod_revision),
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

export const statusFrom = (
  op: string,
  prefix: string,
  relKey: string,
  kv: IKeyValue
): Either.Either<PodStatus, StoreError> =>
  decodeStatus(kv.value.toString()).pipe(Either.mapLeft((cause) => invalid(op, prefix + relKey, cause)))

/** An `events/…` key-value as a PodEvent whose id is the key's create revision. */
export const eventFrom = (op: string, prefix: string, kv: IKeyValue): Either.Either<PodEvent, StoreError> =>
  decodeEventBody(kv.value.toString()).pipe(
    Either.mapLeft((cause) => invalid(op, prefix + kv.key.toString(), cause)),
    Either.map((body) => ({ ...body, id: Number(kv.create_revision) }))
  )

/** A fresh key for an event (its order comes from the create revision, not the key). */
export const newEventKey = (): string => EVENTS + randomHex(8)

export const newWriteId = (): string => randomHex(12)

const randomHex = (bytes: number): string =>
  Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("")
