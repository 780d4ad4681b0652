/**
 * Pure parsing of spec files for `tank apply`: YAML or JSON, several pods per file.
 *
 * A file may hold YAML documents separated by `---`, a JSON/YAML list of pods, or a `{ pods: [...] }`
 * mapping (any mix of these across documents). Each pod keeps where it came from ("document 2",
 * "document 1, item 3") so an error can point at it.
 */
import { Either } from "effect"
import * as YAML from "yaml"

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
    super(`${source}${where ? `: ${where}` : ""}: ${reason}`)
  }
}

const lineOf = (lineCounter: YAML.LineCounter, offset: number | undefined) =>
  offset === undefined ? undefined : lineCounter.linePos(offset).line

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** Split a spec file's text into pods. `source` names the file ("pods.yaml", "stdin") in errors. */
export const parseSpecFile = (text: string, source: string): Either.Either<ReadonlyArray<SpecEntry>, SpecFileError> => {
  const lineCounter = new YAML.LineCounter()
  const docs = YAML.parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: true })
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
    const value: unknown = doc.toJS({ maxAliasCount: 100 })
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
