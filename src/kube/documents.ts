/**
 * Parsed documents (YAML/JSON, one value each) → Tank pod specs (pure). The one entry point for
 * every reader of pod documents (`tank apply -f`, Api.apply/applyAll, the web editor):
 *
 * - a Tank pod spec passes through unchanged;
 * - `apiVersion: v1, kind: Pod` is converted (fromKube.ts): fields without a Tank meaning are
 *   errors or warnings named by their manifest path;
 * - `apiVersion: v1, kind: List` stands for its `items`, each one of the above.
 *
 * Validation against Tank's schema happens in `decodeDocument`, whose messages name the manifest's
 * fields (`spec.containers[0].image`) for a converted manifest.
 */
import { Either } from "effect"
import { decodePodEither, InvalidSpec, SpecIssue } from "../spec/decode.js"
import type { Pod } from "../spec/Pod.js"
import { printable } from "../spec/printable.js"
import { fromKube, isKubeDocument, type KubeIssue, toKubePath } from "./fromKube.js"

export interface Document {
  readonly spec: unknown
  /** Where it came from, for messages: "document 2", "document 1, item 3". */
  readonly where: string
}

/** A document as Tank pod data, and what its conversion found. */
export type TankDocument<D extends Document> = D & {
  /** Tank's plain-data pod (still to be validated by decodeDocument). */
  readonly spec: unknown
  /** Whether it was a Kubernetes manifest. */
  readonly kube: boolean
  /** Conversion errors (manifest paths): the document is refused. */
  readonly errors: ReadonlyArray<KubeIssue>
  /** Fields ignored because ignoring them changes nothing that matters (manifest paths). */
  readonly warnings: ReadonlyArray<KubeIssue>
  /** A Tank field path → the manifest's (identity for a Tank document). */
  readonly sourcePath: (tankPath: string) => string
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/**
 * Pod labels map to Tank's. Tank runs liveness, readiness and startup probes; its schema
 * refuses what it does not run of a probe (an HTTPS httpGet), named by the manifest's path.
 */
const OPTIONS = { supportsLabels: true, probes: ["livenessProbe", "readinessProbe", "startupProbe"] } as const

const kubeList = (doc: unknown): doc is { apiVersion: unknown; kind: "List"; items: unknown } =>
  isObject(doc) && doc.kind === "List"

/** Expand `kind: List` documents and convert Kubernetes Pods; Tank documents pass through. */
export const toTankDocuments = <D extends Document>(docs: ReadonlyArray<D>): Array<TankDocument<D>> =>
  docs.flatMap((d) => {
    if (kubeList(d.spec)) {
      const items = d.spec.items
      if (d.spec.apiVersion !== "v1" || !Array.isArray(items)) {
        return [{
          ...d,
          kube: true,
          errors: [{
            path: d.spec.apiVersion !== "v1" ? "apiVersion" : "items",
            message: "a List is apiVersion v1 with items: a list of Pods"
          }],
          warnings: [],
          sourcePath: (p: string) => p
        }]
      }
      return items.map((item: unknown, j: number) => convert({ ...d, spec: item, where: `${d.where}, items[${j}]` }))
    }
    return [convert(d)]
  })

const convert = <D extends Document>(d: D): TankDocument<D> => {
  if (!isKubeDocument(d.spec)) return { ...d, kube: false, errors: [], warnings: [], sourcePath: (p) => p }
  const c = fromKube(d.spec, OPTIONS)
  return {
    ...d,
    spec: c.spec,
    kube: true,
    errors: c.errors,
    warnings: c.warnings,
    sourcePath: (p) => toKubePath(c.paths, p)
  }
}

const nameOf = (d: TankDocument<Document>): string | undefined =>
  isObject(d.spec) && typeof d.spec.name === "string" ? printable(d.spec.name, 100) : undefined

/**
 * Validate a converted document as a Tank pod. A manifest's conversion errors come first (nothing
 * else is checked then); Tank's own issues are renamed to the manifest's paths.
 */
export const decodeDocument = (d: TankDocument<Document>, source?: string): Either.Either<Pod, InvalidSpec> => {
  const base = {
    ...(source !== undefined ? { source: printable(source, 300) } : {}),
    ...(nameOf(d) !== undefined ? { pod: nameOf(d)! } : {})
  }
  if (d.errors.length > 0) {
    return Either.left(
      new InvalidSpec({ ...base, issues: d.errors.map((e) => new SpecIssue({ path: e.path, message: e.message })) })
    )
  }
  const decoded = decodePodEither(d.spec, source)
  if (!d.kube || Either.isRight(decoded)) return decoded
  return Either.left(
    new InvalidSpec({
      ...base,
      issues: decoded.left.issues.map((i) => new SpecIssue({ path: d.sourcePath(i.path), message: i.message }))
    })
  )
}

/** `spec.dnsPolicy: ... (ignored)` lines for a document's warnings. */
export const warningLines = (d: TankDocument<Document>): Array<string> =>
  d.warnings.map((w) => `${w.path || "(root)"}: ${w.message}`)
