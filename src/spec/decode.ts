/**
 * Decoding pod specs from plain data into validated `Pod`s, with readable, path-naming errors.
 * Everything echoed from the input in an error is escaped and bounded (printable.ts), and a spec
 * larger than MAX_SPEC_BYTES is refused before it is decoded (limits.ts).
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import { formatPath } from "./issuePath.js"
import { jsonBytesWithin, MAX_SPEC_BYTES, utf8Bytes } from "./limits.js"
import { Pod, type PodInput } from "./Pod.js"
import { printable } from "./printable.js"

/** One problem with a spec: where (`containers[0].mounts[1].volume`) and what. */
export class SpecIssue extends Schema.Class<SpecIssue>("SpecIssue")({
  path: Schema.String,
  message: Schema.String
}) {}

/** A spec was rejected. `issues` names every field at fault; nothing was stored. */
export class InvalidSpec extends Schema.TaggedError<InvalidSpec>()("InvalidSpec", {
  /** Where the spec came from, when known: a file name, "seed", "stdin". */
  source: Schema.optional(Schema.String),
  /** The pod's name when it could be read. */
  pod: Schema.optional(Schema.String),
  issues: Schema.Array(SpecIssue)
}) {
  override get message(): string {
    const where = [this.source, this.pod ? `pod "${this.pod}"` : undefined].filter(Boolean).join(": ")
    const head = `invalid pod spec${where ? ` (${where})` : ""}`
    return [head, ...this.issues.map((i) => `  ${i.path || "(root)"}: ${i.message}`)].join("\n")
  }
}

// Where a path is spelled out (Config.ts uses it without loading the Pod schema).
export { formatPath } from "./issuePath.js"

const friendly = (type: string): string =>
  type
    .replace(/Struct \(Encoded side\)/g, "an object")
    // Schema's type dumps ("ReadonlyArray<{ string | filter }>", "{ readonly [x: string]: ... }") mean
    // nothing to someone writing YAML: say "a list" / "an object".
    .replace(/^Expected ReadonlyArray<.*?>, actual /, "Expected a list, actual ")
    .replace(/^Expected \{ readonly \[x: .*?\]: .*? \}, actual /, "Expected an object, actual ")
    .replace(/\{ readonly (\w+): [^}]*\}/g, "{ $1: ... }")

const issuesOf = (error: ParseResult.ParseError): Array<SpecIssue> => {
  const raw = ParseResult.ArrayFormatter.formatErrorSync(error)
  const out: Array<SpecIssue> = []
  const seen = new Set<string>()
  for (const i of raw) {
    // Unknown keys come as "is unexpected"; make the message say what to do.
    const message = i._tag !== "Unexpected"
      ? friendly(i.message)
      : i.path[i.path.length - 1] === "__proto__"
      ? `"__proto__" is not allowed as a key`
      : "unknown field (not part of the spec)"
    // optionalWith reports its "or undefined" branch too; that never helps the user.
    if (message.startsWith("Expected undefined, actual")) continue
    const path = printable(formatPath(i.path), 300)
    const key = `${path}\0${message}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push(new SpecIssue({ path, message: printable(message, 1000) }))
  }
  // A union failure reports each branch ("Expected A, actual v" once per member). When a deeper issue
  // exists under that path, the input chose a branch and only the deeper issue helps; otherwise fold
  // the branches into one line.
  const isMismatch = (i: SpecIssue) => i.message.startsWith("Expected ")
  // A specific complaint at the same path (a refinement's message, such as `image reference "" must be
  // non-empty`) means the input chose that branch; the other branches' "Expected ..." is noise.
  const deeper = (i: SpecIssue) =>
    out.some((o) =>
      o.path.startsWith(i.path === "" ? "" : i.path + ".") && o.path !== i.path ||
      (i.path !== "" && o.path.startsWith(i.path + "[")) ||
      (o.path === i.path && !isMismatch(o))
    )
  const result: Array<SpecIssue> = []
  const folded = new Set<string>()
  for (const i of out) {
    if (!isMismatch(i)) {
      result.push(i)
      continue
    }
    if (deeper(i) || folded.has(i.path)) continue
    const siblings = out.filter((o) => o.path === i.path && isMismatch(o))
    if (siblings.length === 1) {
      result.push(i)
      continue
    }
    folded.add(i.path)
    const expected = siblings.map((o) => friendly(/^Expected (.*), actual /.exec(o.message)?.[1] ?? o.message))
    const actual = /, actual (.*)$/.exec(i.message)?.[1] ?? "?"
    result.push(new SpecIssue({ path: i.path, message: `expected ${expected.join(" | ")}, got ${actual}` }))
  }
  return result
}

const decodeEither = Schema.decodeUnknownEither(Pod, { errors: "all", onExcessProperty: "error" })

const nameOf = (input: unknown): string | undefined =>
  typeof input === "object" && input !== null && typeof (input as { name?: unknown }).name === "string"
    ? printable((input as { name: string }).name, 100)
    : undefined

const tooLarge = (bytes: string) =>
  new SpecIssue({
    path: "",
    message: `the spec is ${bytes} bytes as JSON (YAML aliases expanded); the limit is ${MAX_SPEC_BYTES} (1 MiB)`
  })

/** Size first (bounded work whatever the input), then the schema, then the size of what would be stored. */
const validate = (input: unknown): Either.Either<Pod, ReadonlyArray<SpecIssue>> => {
  if (jsonBytesWithin(input, MAX_SPEC_BYTES) === undefined) {
    return Either.left([tooLarge(`more than ${MAX_SPEC_BYTES}`)])
  }
  return decodeEither(input).pipe(
    Either.mapLeft(issuesOf),
    Either.flatMap((pod) => {
      // Defaults spelled out and escapes make the stored form a little larger than the input.
      const stored = utf8Bytes(JSON.stringify(encodeSync(pod)))
      return stored <= MAX_SPEC_BYTES ? Either.right(pod) : Either.left([tooLarge(String(stored))])
    })
  )
}

/** Validate plain data as a pod. Fails with `InvalidSpec` naming every bad field. */
export const decodePod = (input: unknown, source?: string): Effect.Effect<Pod, InvalidSpec> =>
  Either.match(decodePodEither(input, source), { onLeft: Effect.fail, onRight: Effect.succeed })

/** The same, synchronously, for pure callers. */
export const decodePodEither = (input: unknown, source?: string): Either.Either<Pod, InvalidSpec> =>
  Either.mapLeft(validate(input), (issues) =>
    new InvalidSpec({
      ...(source !== undefined ? { source: printable(source, 300) } : {}),
      ...(nameOf(input) !== undefined ? { pod: nameOf(input)! } : {}),
      issues
    }))

/**
 * A pod read back from storage, whose size the reader has already bounded: the schema only (no size
 * walk, no re-encoding: this runs for every pod on every read of an etcd store).
 */
export const decodeStoredPod = (input: unknown): Either.Either<Pod, ReadonlyArray<SpecIssue>> =>
  Either.mapLeft(decodeEither(input), issuesOf)

const encodeSync = Schema.encodeSync(Pod)

/** The canonical plain-data form of a validated pod (every default spelled out). */
export const encodePod = (pod: Pod): PodInput => encodeSync(pod)

/**
 * A stable string for a pod's spec: key order fixed, so two specs are "the same" exactly when this
 * string is. The reconciler replaces a pod whenever this changes.
 */
export const canonicalJson = (pod: Pod): string => {
  const hit = canonical.get(pod)
  if (hit !== undefined) return hit
  const key = JSON.stringify(sortKeys(encodePod(pod)))
  canonical.set(pod, key)
  return key
}

// A decoded pod is never mutated, and one object is asked for its key many times (the apply's
// compare, every reconcile pass, the pod's worker): a full Schema encode each time was a large part
// of an apply's CPU.
const canonical = new WeakMap<Pod, string>()

const sortKeys = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v as object).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])])
    )
  }
  return v
}
