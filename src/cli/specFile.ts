/**
 * Pure parsing of spec files for `tank apply`: YAML or JSON, several pods per file.
 *
 * A file may hold YAML documents separated by `---`, a JSON/YAML list of pods, or a `{ pods: [...] }`
 * mapping (any mix of these across documents). Each pod keeps where it came from ("document 2",
 * "document 1, item 3") so an error can point at it.
 *
 * Hostile input: the text is capped before it gets here (MAX_SPEC_FILE_BYTES, `decodeSpecText`);
 * aliases are bounded by the yaml library's `maxAliasCount` (a "billion laughs" is a SpecFileError,
 * not a crash) and what they expand to by the spec size limit at validation; duplicate keys are
 * found in linear time (the library's own `uniqueKeys` check is quadratic: 47 s for 60 000 keys).
 */
import { Either } from "effect"
import * as YAML from "yaml"
import { printable } from "../spec/printable.js"

/** Largest spec file (or stdin) `tank apply` reads: a few pods at the 1 MiB spec limit. */
export const MAX_SPEC_FILE_BYTES = 4 << 20

/** Bounds alias expansion (the yaml library's default): more is refused as an expansion attack. */
const MAX_ALIAS_COUNT = 100

export interface SpecEntry {
  /** The raw pod data (validated later by decodePod). */
  readonly spec: unknown
  /** Where in the file: `document 2`, `document 1, item 3`, `document 1, pods[0]`. */
  readonly where: string
  /** 1-based line where the pod's text begins, when known. */
  readonly line: number | undefined
}

export class SpecFileError extends Error {
  constructor(readonly source: string, readonly where: string | undefined, readonly reason: string) {
    super(`${printable(source, 300)}${where ? `: ${where}` : ""}: ${printable(reason, 500)}`)
  }
}

/**
 * A file's bytes as text: refused when over MAX_SPEC_FILE_BYTES or not UTF-8 (a lossy decode would
 * silently change names and values).
 */
export const decodeSpecText = (bytes: Uint8Array, source: string): Either.Either<string, SpecFileError> => {
  if (bytes.length > MAX_SPEC_FILE_BYTES) {
    return Either.left(new SpecFileError(source, undefined, `larger than ${MAX_SPEC_FILE_BYTES} bytes`))
  }
  try {
    return Either.right(new TextDecoder("utf-8", { fatal: true }).decode(bytes))
  } catch {
    return Either.left(new SpecFileError(source, undefined, "not valid UTF-8 text"))
  }
}

/** The first key that repeats within one mapping, anywhere in the document. */
const duplicateKey = (doc: YAML.Document.Parsed): YAML.Node | undefined => {
  let found: YAML.Node | undefined
  YAML.visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>()
      for (const pair of map.items) {
        const key = pair.key
        // As object keys: `1` and "1" are the same field once converted.
        const id = YAML.isScalar(key) ? String(key.value) : key
        if (seen.has(id)) {
          found = YAML.isNode(key) ? key : map
          return YAML.visit.BREAK
        }
        seen.add(id)
      }
      return undefined
    }
  })
  return found
}

const lineOf = (lineCounter: YAML.LineCounter, offset: number | undefined) =>
  offset === undefined ? undefined : lineCounter.linePos(offset).line

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** Split a spec file's text into pods. `source` names the file ("pods.yaml", "stdin") in errors. */
export const parseSpecFile = (text: string, source: string): Either.Either<ReadonlyArray<SpecEntry>, SpecFileError> => {
  const lineCounter = new YAML.LineCounter()
  const docs = YAML.parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: false })
  if (!Array.isArray(docs)) return Either.right([]) // an empty stream (only comments, or nothing)
  const out: Array<SpecEntry> = []
  for (const [i, doc] of docs.entries()) {
    const where = docs.length > 1 ? `document ${i + 1}` : "document 1"
    const err = doc.errors[0]
    if (err) {
      const pos = err.linePos?.[0]
      return Either.left(
        new SpecFileError(
          source,
          pos ? `line ${pos.line}, column ${pos.col}` : where,
          `not valid YAML/JSON: ${err.message.split("\n")[0]}`
        )
      )
    }
    const dup = duplicateKey(doc)
    if (dup) {
      const at = dup.range ? lineCounter.linePos(dup.range[0]) : undefined
      return Either.left(
        new SpecFileError(
          source,
          at ? `line ${at.line}, column ${at.col}` : where,
          "not valid YAML/JSON: Map keys must be unique"
        )
      )
    }
    let value: unknown
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
    } catch (e) {
      // Unresolvable or excessive aliases (a "billion laughs"): the library throws a ReferenceError.
      return Either.left(new SpecFileError(source, where, `not usable YAML: ${(e as Error).message}`))
    }
    if (value === null || value === undefined) continue // an empty document (trailing `---`)
    const contents = doc.contents as YAML.Node | null
    const items = YAML.isSeq(contents) ? contents.items : undefined
    if (Array.isArray(value)) {
      value.forEach((spec, j) =>
        out.push({
          spec,
          where: `${where}, item ${j + 1}`,
          line: lineOf(lineCounter, (items?.[j] as YAML.Node | undefined)?.range?.[0])
        })
      )
    } else if (isMap(value) && Object.keys(value).length === 1 && Array.isArray(value.pods)) {
      const podsNode = YAML.isMap(contents) ? contents.get("pods", true) : undefined
      const podItems = YAML.isSeq(podsNode) ? podsNode.items : undefined
      value.pods.forEach((spec: unknown, j: number) =>
        out.push({
          spec,
          where: `${where}, pods[${j}]`,
          line: lineOf(lineCounter, (podItems?.[j] as YAML.Node | undefined)?.range?.[0])
        })
      )
    } else if (isMap(value)) {
      out.push({ spec: value, where, line: lineOf(lineCounter, contents?.range?.[0]) })
    } else {
      return Either.left(
        new SpecFileError(
          source,
          where,
          `expected a pod (a mapping), a list of pods or { pods: [...] }, got ${typeof value}`
        )
      )
    }
  }
  return Either.right(out)
}
