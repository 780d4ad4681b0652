/**
 * Label keys and values, as Kubernetes has them (node labels, pod labels, `-l` selectors): plain
 * rules, free of Schema (fields.ts builds its schemas on them; spec/selectorParse.ts, which ps's lite
 * tier runs, checks a selector with them). Pure.
 */
import { quoted } from "./printable.js"

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

/**
 * Node label keys, as Kubernetes has them: an optional DNS-subdomain prefix (at most 253) and '/',
 * then a name of 1-63 alphanumerics, '-', '_', '.', starting and ending alphanumeric.
 */
export const labelKeyProblem = (k: string): string | undefined => {
  const slash = k.indexOf("/")
  const prefix = slash < 0 ? undefined : k.slice(0, slash)
  const name = slash < 0 ? k : k.slice(slash + 1)
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `label key ${quoted(k)}: the prefix before '/' must be a DNS subdomain of at most 253 characters`
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return `label key ${
      quoted(k)
    } must be [prefix/]name, the name 1-63 letters, digits, '-', '_', '.', starting and ending with a letter or digit`
  }
  return undefined
}

/** Label values: empty, or at most 63 of the label-name characters. */
export const labelValueProblem = (v: string): string | undefined =>
  v === "" || (v.length <= 63 && LABEL_NAME.test(v))
    ? undefined
    : `label value ${
      quoted(v)
    } must be empty or 1-63 letters, digits, '-', '_', '.', starting and ending with a letter or digit`
