/**
 * Label selectors' grammar and matching (selector.ts says what they are), free of Schema: selector.ts
 * wraps a malformed one in its InvalidSelector; ps's lite tier (src/cli/quickPsLite.ts) filters with
 * a well-formed one and hands a malformed one to the heavy tier, which reports it. Pure.
 */
import { Either } from "effect"
import { labelKeyProblem, labelValueProblem } from "./labels.js"

export type Requirement =
  | { readonly op: "=" | "!="; readonly key: string; readonly value: string }
  | { readonly op: "in" | "notin"; readonly key: string; readonly values: ReadonlyArray<string> }
  | { readonly op: "exists" | "!exists"; readonly key: string }

export type Selector = ReadonlyArray<Requirement>

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

/** The requirements of `selector`, or the part at fault and its problem (selector.ts names them). */
export const parseRequirements = (
  selector: string
): Either.Either<Selector, { readonly part: string; readonly problem: string }> => {
  const out: Array<Requirement> = []
  for (const part of splitTop(selector)) {
    const fail = (problem: string) => Either.left({ part, problem })
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
