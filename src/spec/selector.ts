/**
 * Label selectors as kubectl's `-l`: `app=web,tier!=db,env in (prod,staging),env notin (dev),gpu,!legacy`
 * (`==` is `=`). Every requirement must hold. Keys and values follow the label rules of
 * fields.ts (the ones node labels use); a malformed selector is an InvalidSelector naming the part
 * and the problem. Pure.
 */
import { Either, Schema } from "effect"
import { labelKeyProblem, labelValueProblem } from "./fields.js"
import { quoted } from "./printable.js"

export type Requirement =
  | { readonly op: "=" | "!="; readonly key: string; readonly value: string }
  | { readonly op: "in" | "notin"; readonly key: string; readonly values: ReadonlyArray<string> }
  | { readonly op: "exists" | "!exists"; readonly key: string }

export type Selector = ReadonlyArray<Requirement>

export class InvalidSelector extends Schema.TaggedError<InvalidSelector>()("InvalidSelector", {
  selector: Schema.String,
  /** The requirement at fault (as written). */
  part: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `label selector ${quoted(this.selector)}: ${quoted(this.part)}: ${this.problem}`
  }
}

/** Split on commas outside parentheses (`env in (a,b),app=x` is two requirements). */
const splitTop = (s: string): ReadonlyArray<string> => {
  const parts: Array<string> = []
  let depth = 0
  let cur = ""
  for (const ch of s) {
    if (ch === "(") depth++
    if (ch === ")") depth--
    if (ch === "," && depth === 0) {
      parts.push(cur)
      cur = ""
    } else cur += ch
  }
  parts.push(cur)
  return parts.map((p) => p.trim())
}

const SET = /^(\S+)\s+(in|notin)\s*\((.*)\)$/
const EQ = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/

const parseOne = (part: string): Either.Either<Requirement, string> => {
  const set = SET.exec(part)
  if (set) {
    const values = set[3]!.split(",").map((v) => v.trim())
    if (values.length === 0 || values.every((v) => v === "")) return Either.left("a set needs at least one value")
    return Either.right({ op: set[2] as "in" | "notin", key: set[1]!, values })
  }
  const eq = EQ.exec(part)
  if (eq) return Either.right({ op: eq[2] === "!=" ? "!=" : "=", key: eq[1]!, value: eq[3]!.trim() })
  if (part.startsWith("!")) return Either.right({ op: "!exists", key: part.slice(1).trim() })
  return Either.right({ op: "exists", key: part })
}

const problemOf = (r: Requirement): string | undefined =>
  labelKeyProblem(r.key) ??
    (r.op === "=" || r.op === "!="
      ? labelValueProblem(r.value)
      : r.op === "in" || r.op === "notin"
      ? r.values.map(labelValueProblem).find((p) => p !== undefined)
      : undefined)

export const parseSelector = (selector: string): Either.Either<Selector, InvalidSelector> => {
  const out: Array<Requirement> = []
  for (const part of splitTop(selector)) {
    const fail = (problem: string) => Either.left(new InvalidSelector({ selector, part, problem }))
    if (part === "") return fail("empty requirement (a stray comma?)")
    const r = parseOne(part)
    if (Either.isLeft(r)) return fail(r.left)
    const problem = problemOf(r.right)
    if (problem !== undefined) return fail(problem)
    out.push(r.right)
  }
  return Either.right(out)
}

/** Whether `labels` (absent: none) satisfy every requirement. */
export const matches = (selector: Selector, labels: Readonly<Record<string, string>> | undefined): boolean =>
  selector.every((r) => {
    const has = labels !== undefined && Object.hasOwn(labels, r.key)
    const v = has ? labels[r.key] : undefined
    switch (r.op) {
      case "=":
        return v === r.value
      case "!=":
        return v !== r.value
      case "in":
        return v !== undefined && r.values.includes(v)
      case "notin":
        return v === undefined || !r.values.includes(v)
      case "exists":
        return has
      case "!exists":
        return !has
    }
  })
