/**
 * A container's capability list (pure): docker's default set, then the spec's `drop` (`ALL` empties
 * it), then its `add` (`ALL`: every capability this Tank knows). CAP_ names, in bit order, as the
 * helper and docker's seccomp conditions spell them.
 */
import { type Capabilities, CAPABILITY_NAMES } from "../../spec/security.js"
import { DEFAULT_CAPABILITIES } from "../helper/defaults.js"

const ALL = CAPABILITY_NAMES.map((c) => `CAP_${c}`)

export const containerCapabilities = (
  spec: Capabilities | undefined,
  defaults: ReadonlyArray<string> = DEFAULT_CAPABILITIES
): Array<string> => {
  const held = new Set(defaults)
  for (const c of spec?.drop ?? []) {
    if (c === "ALL") held.clear()
    else held.delete(`CAP_${c}`)
  }
  for (const c of spec?.add ?? []) {
    if (c === "ALL") ALL.forEach((x) => held.add(x))
    else held.add(`CAP_${c}`)
  }
  return ALL.filter((c) => held.has(c))
}
