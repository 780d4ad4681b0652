/**
 * The "Apply pod" editor's text, pure: parse it as `tank apply -f` does (YAML or JSON, several pods
 * per text), and point each validation issue at the line of its field, so the editor can show
 * `line 7: containers[0].image: ...` next to the text.
 */
import { Either } from "effect"
import * as YAML from "yaml"
import { parseSpecFile, type SpecEntry } from "../cli/specFile.js"

/** `containers[0].mounts[1].volume` → ["containers", 0, "mounts", 1, "volume"] (formatPath's inverse). */
export const parsePath = (p: string): Array<string | number> => {
  const out: Array<string | number> = []
  const re = /([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g
  let m: RegExpExecArray | null
  while ((m = re.exec(p)) !== null) {
    if (m[1] !== undefined) out.push(m[1])
    else if (m[2] !== undefined) out.push(Number(m[2]))
    else out.push(JSON.parse(m[3]!) as string)
  }
  return out
}

export interface EditorIssue {
  readonly path: string
  readonly message: string
  /** 1-based line of the field (or of the nearest enclosing one that exists in the text). */
  readonly line?: number
}

/** The YAML node an entry's `where` names (`document 2`, `document 1, item 3`, `document 1, pods[0]`). */
const entryNode = (docs: ReadonlyArray<YAML.Document.Parsed>, where: string): YAML.Node | undefined => {
  const m = /^document (\d+)(?:, item (\d+)|, pods\[(\d+)\])?$/.exec(where)
  if (!m) return undefined
  const contents = docs[Number(m[1]) - 1]?.contents ?? undefined
  if (!contents) return undefined
  if (m[2] !== undefined) return YAML.isSeq(contents) ? contents.items[Number(m[2]) - 1] as YAML.Node : undefined
  if (m[3] !== undefined) {
    const pods = YAML.isMap(contents) ? contents.get("pods", true) : undefined
    return YAML.isSeq(pods) ? pods.items[Number(m[3])] as YAML.Node : undefined
  }
  return contents
}

/** The line of `path` under `node`, or of its deepest part present in the text. */
const lineOfPath = (node: YAML.Node, path: ReadonlyArray<string | number>, lc: YAML.LineCounter) => {
  for (let n = path.length; n >= 0; n--) {
    const found = n === 0 ? node : YAML.isCollection(node) ? node.getIn(path.slice(0, n), true) : undefined
    const offset = YAML.isNode(found) ? found.range?.[0] : undefined
    if (offset !== undefined) {
      // A missing key's parent is a mapping: point at the key line, not the value below it.
      return lc.linePos(offset).line
    }
  }
  return undefined
}

export interface ParsedText {
  readonly entries: ReadonlyArray<SpecEntry>
  /** Lines for the issues of entry `index`. */
  readonly locate: (index: number, issues: ReadonlyArray<{ path: string; message: string }>) => Array<EditorIssue>
}

export const parseEditorText = (text: string, source: string): Either.Either<ParsedText, EditorIssue> => {
  const parsed = parseSpecFile(text, source)
  if (Either.isLeft(parsed)) {
    const line = /line (\d+)/.exec(parsed.left.where ?? "")?.[1]
    return Either.left({ path: "", message: parsed.left.reason, ...(line ? { line: Number(line) } : {}) })
  }
  const lc = new YAML.LineCounter()
  const docs = YAML.parseAllDocuments(text, { lineCounter: lc })
  const docList = Array.isArray(docs) ? docs : []
  return Either.right({
    entries: parsed.right,
    locate: (index, issues) => {
      const entry = parsed.right[index]
      const node = entry ? entryNode(docList, entry.where) : undefined
      return issues.map((i) => {
        const line = node ? lineOfPath(node, parsePath(i.path), lc) : entry?.line
        return { path: i.path, message: i.message, ...(line !== undefined ? { line } : {}) }
      })
    }
  })
}
