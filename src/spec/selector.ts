/**
 * Label selectors as kubectl's `-l`: `app=web,tier!=db,env in (prod,staging),env notin (dev),gpu,!legacy`
 * (`==` is `=`). Every requirement must hold. Keys and values follow the label rules of
 * fields.ts (the ones node labels use); a malformed selector is an InvalidSelector naming the part
 * and the problem. Pure.
 */
import { Either, Schema } from "effect"
import { quoted } from "./printable.js"
import { parseRequirements, type Selector } from "./selectorParse.js"

// The grammar and matching are plain code (selectorParse.ts: ps's lite tier filters with them).
export { matches, type Requirement, type Selector } from "./selectorParse.js"

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

export const parseSelector = (selector: string): Either.Either<Selector, InvalidSelector> =>
  Either.mapLeft(parseRequirements(selector), ({ part, problem }) => new InvalidSelector({ selector, part, problem }))
