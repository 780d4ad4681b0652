/**
 * Safe echoing of untrusted text (pod names, field values, stored keys) in messages meant for a
 * terminal or a log. Pure.
 *
 * A name such as "\x1b]0;owned\x07" or "\x1b[2J" echoed raw by an error message would retitle or clear
 * the reader's terminal; bidi overrides (U+202E) make a name read backwards. These are escaped:
 * C0 controls and DEL (`\n`, `\t`, `\r`, else `\xNN`), C1 controls, lone UTF-16 surrogates (what
 * invalid input decodes to when it is not replaced) and the bidi/format characters that reorder
 * text (`\uNNNN`). Everything else, including ordinary non-ASCII text, is kept.
 */

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udfff]/gu

const escapeChar = (c: string): string => {
  switch (c) {
    case "\n":
      return "\\n"
    case "\r":
      return "\\r"
    case "\t":
      return "\\t"
  }
  const code = c.charCodeAt(0)
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`
}

/**
 * `s` with every control and reordering character escaped; longer than `max` characters (default
 * 200), cut with a note of how much was left out, so a megabyte of garbage never floods a message.
 */
export const printable = (s: string, max = 200): string => {
  const cut = s.length > max ? s.slice(0, max) : s
  // A surrogate pair split by the cut must not leave half a character behind.
  const whole = cut.length > 0 && /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut
  const escaped = whole.replace(UNSAFE, escapeChar)
  return s.length > max ? `${escaped}… (${s.length - whole.length} more characters)` : escaped
}

/**
 * A whole multi-line message for the terminal: like `printable` but newlines (and tabs) are kept as
 * the message's own layout, and nothing is cut. Values inside it should already have gone through
 * `printable`; this is the last line of defence at the output.
 */
export const printableText = (s: string): string =>
  s.replace(UNSAFE, (c) => c === "\n" || c === "\t" ? c : escapeChar(c))

/** `JSON.stringify`-like quoting for a name in a message: `"web"`, `"a\x1bb"`. */
export const quoted = (s: string, max = 200): string => `"${printable(s, max)}"`
