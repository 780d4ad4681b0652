/**
 * Container and pod fields that Kubernetes Pod manifests need a Tank meaning for (pure Schemas):
 * a read-only root, refusing root, resource requests for placement, environment from the pod's
 * run (its address, its node), the pod's hostname and the group its volumes belong to.
 *
 * Every field is absent when it says the default, so the canonical JSON of a pod written before they
 * existed does not change (see security.ts).
 */
import { Option, Schema } from "effect"
import { envNameProblem, label } from "./fields.js"

const optionalUnlessDefault = <A, I>(s: Schema.Schema<A, I>, isDefault: (a: A) => boolean) =>
  Schema.optionalToOptional(s, Schema.typeSchema(s), {
    decode: Option.filter((a) => !isDefault(a)),
    encode: (o) => o
  })

/** Largest uid/gid the kernel takes (2^32 - 2; -1 means "unchanged"). */
const MAX_ID = 4_294_967_294

/**
 * What placement counts a container for (cluster mode), when it differs from its limits: cpu in
 * millicores, memory in bytes. Absent: the limits, else the scheduler's defaults (placement.ts).
 */
export const Requests = Schema.Struct({
  cpu: Schema.optionalWith(
    Schema.Number.pipe(
      Schema.filter((n) =>
        Number.isInteger(n) && n >= 1 && n <= 1_000_000 ? true : `requests.cpu must be 1..1000000 millicores`
      )
    ),
    { exact: true }
  ),
  memory: Schema.optionalWith(
    Schema.Number.pipe(
      Schema.filter((n) =>
        Number.isSafeInteger(n) && n >= 1 ? true : `requests.memory must be a positive number of bytes`
      )
    ),
    { exact: true }
  )
}).annotations({ identifier: "Requests" })
export type Requests = typeof Requests.Type

/** Values only known once the pod runs (Kubernetes' downward API `fieldRef` paths). */
export const FieldPath = Schema.Literal("status.podIP", "spec.nodeName").annotations({
  message: () => `must be "status.podIP" (the pod's first address) or "spec.nodeName" (the node running it)`
})
export type FieldPath = typeof FieldPath.Type

/** NAME → field: set when the container starts, over the image's env and `env`. */
export const FieldEnv = Schema.Record({
  key: Schema.String.pipe(Schema.filter((k) => k !== "__proto__")),
  value: FieldPath
}).pipe(
  Schema.filter((env) => {
    const issues = Object.keys(env).flatMap((k) => {
      const problem = envNameProblem(k)
      return problem === undefined ? [] : [{ path: [k], message: problem }]
    })
    return issues.length === 0 ? true : issues
  }),
  Schema.annotations({ identifier: "FieldEnv" })
)
export type FieldEnv = typeof FieldEnv.Type

export const containerRunFields = {
  /** The image's files cannot be written (volumes, /dev/shm and /tmp volumes can). Kubernetes' name. */
  readOnlyRootFilesystem: optionalUnlessDefault(Schema.Boolean, (b) => !b),
  /** Refuse to start when the container would run as uid 0 (checked against the image's user). */
  runAsNonRoot: optionalUnlessDefault(Schema.Boolean, (b) => !b),
  requests: optionalUnlessDefault(Requests, (r) => r.cpu === undefined && r.memory === undefined),
  fieldEnv: optionalUnlessDefault(FieldEnv, (e) => Object.keys(e).length === 0)
}

export const podRunFields = {
  /** The pod's hostname (default: its name). */
  hostname: Schema.optionalWith(label("hostname", 63), { exact: true }),
  /**
   * Kubernetes' fsGroup: every container gets this supplementary group, and managed volumes
   * (and tmpfs ones) belong to it, group-writable with the setgid bit, so files made in them do too.
   */
  fsGroup: Schema.optionalWith(
    Schema.Number.pipe(
      Schema.filter((n) => Number.isInteger(n) && n >= 0 && n <= MAX_ID ? true : `fsGroup must be 0..${MAX_ID}`)
    ),
    { exact: true }
  ),
  /** Kubernetes' supplementalGroups: more groups for every container (after the image's). */
  supplementalGroups: optionalUnlessDefault(
    Schema.Array(
      Schema.Number.pipe(
        Schema.filter((n) => Number.isInteger(n) && n >= 0 && n <= MAX_ID ? true : `a group must be 0..${MAX_ID}`)
      )
    ).pipe(Schema.filter((g) => g.length <= 32 ? true : `at most 32 groups (got ${g.length})`)),
    (g) => g.length === 0
  )
}

/** A volume in memory, shared by the pod's containers, gone with the run (Kubernetes' emptyDir medium Memory). */
export const TmpfsOptions = Schema.Struct({
  /** Bytes (default: the kernel's, half of RAM); what is written counts against the writer's memory limit. */
  size: Schema.optionalWith(
    Schema.Number.pipe(
      Schema.filter((n) => Number.isSafeInteger(n) && n >= 4096 ? true : `tmpfs.size must be at least 4096 bytes`)
    ),
    { exact: true }
  )
}).annotations({ identifier: "TmpfsOptions" })

export const TmpfsSource = Schema.Struct({ tmpfs: TmpfsOptions }).annotations({ identifier: "TmpfsSource" })
export type TmpfsSource = typeof TmpfsSource.Type

/**
 * `{ host }` or `{ tmpfs }`, chosen by its key. Decoded as one struct, not a union of two, so a bad
 * host path is one issue naming it (a union reports every other branch's missing and unexpected keys too).
 */
export const keyedSource = <I>(host: Schema.Schema<string, I>) =>
  Schema.transform(
    Schema.Struct({
      host: Schema.optionalWith(host, { exact: true }),
      tmpfs: Schema.optionalWith(TmpfsOptions, { exact: true })
    }).annotations({ identifier: "{ host } | { tmpfs }" }).pipe(
      Schema.filter((s) =>
        (s.host === undefined) !== (s.tmpfs === undefined)
          ? true
          : `a volume source is "managed", { host: PATH } or { tmpfs: {...} }, exactly one`
      )
    ),
    Schema.Union(Schema.Struct({ host: Schema.String }), Schema.typeSchema(TmpfsSource)),
    {
      strict: false,
      decode: (s) => (s.host !== undefined ? { host: s.host } : { tmpfs: s.tmpfs! }),
      encode: (s) => s
    }
  )
