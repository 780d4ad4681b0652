/**
 * The detach key sequence (docker's Ctrl-P Ctrl-Q by default), pure and incremental.
 *
 * Semantics, as docker's escape proxy (moby/term `EscapeProxy`):
 *  - bytes that match the sequence so far are held back, across reads: the sequence may span any
 *    number of chunks;
 *  - a held prefix followed by any other byte forwards the held bytes AND that byte, as typed, and
 *    matching starts over after it (the mismatching byte is not re-examined: Ctrl-P Ctrl-P Ctrl-Q
 *    sends all three, it does not detach — so a user can type a literal Ctrl-P by pressing it
 *    twice, as in docker);
 *  - the whole sequence detaches; it is never forwarded. Bytes after it in the same chunk are
 *    dropped (the session is over).
 * Unlike docker (which only looks at one-byte reads) the sequence is also recognised inside a
 * chunk, so it works when a terminal multiplexer or a test delivers both keys in one write.
 */

/** Docker's default: Ctrl-P Ctrl-Q. */
export const DEFAULT_DETACH_KEYS: ReadonlyArray<number> = [0x10, 0x11]

const CTRL_SPECIAL: Readonly<Record<string, number>> = { "@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31 }

/**
 * Parse docker's `--detach-keys` notation: comma-separated keys, each a single character or
 * `ctrl-<c>` with c in a-z, @, [, \, ], ^, _. Returns the bytes, or an error string.
 */
export const parseDetachKeys = (spec: string): ReadonlyArray<number> | string => {
  if (spec.trim() === "") return "empty detach key sequence"
  const out: Array<number> = []
  for (const key of spec.split(",")) {
    if (key.length === 1) {
      const code = key.charCodeAt(0)
      if (code > 0x7f) return `detach key "${key}" is not ASCII`
      out.push(code)
      continue
    }
    const m = /^ctrl-(.)$/i.exec(key)
    if (!m) return `unknown detach key "${key}" (use a single character or ctrl-<key>)`
    const c = m[1]!.toLowerCase()
    if (c >= "a" && c <= "z") out.push(c.charCodeAt(0) - 0x60)
    else if (c in CTRL_SPECIAL) out.push(CTRL_SPECIAL[c]!)
    else return `unknown detach key "${key}"`
  }
  return out
}

export interface DetachStep {
  /** Bytes to send to the workload now (in order). */
  readonly forward: Uint8Array
  /** The full sequence was typed: stop forwarding and detach. */
  readonly detached: boolean
}

export interface DetachKeys {
  /** Feed the next chunk of user input. After `detached: true` further input is ignored. */
  readonly push: (chunk: Uint8Array) => DetachStep
  /** The input ended: the held prefix (if any), to be forwarded as typed. */
  readonly flush: () => Uint8Array
  /** How many bytes are held back right now. */
  readonly held: () => number
}

const EMPTY = new Uint8Array(0)

/** A fresh state machine; an empty `keys` never detaches and forwards everything. */
export const detachKeys = (keys: ReadonlyArray<number> = DEFAULT_DETACH_KEYS): DetachKeys => {
  let pos = 0 // bytes of `keys` matched and held
  let done = false
  return {
    push: (chunk) => {
      if (done) return { forward: EMPTY, detached: true }
      if (keys.length === 0) return { forward: chunk, detached: false }
      const out: Array<number> = []
      for (const b of chunk) {
        if (b === keys[pos]) {
          pos++
          if (pos === keys.length) {
            done = true
            pos = 0
            return { forward: Uint8Array.from(out), detached: true }
          }
          continue
        }
        for (let i = 0; i < pos; i++) out.push(keys[i]!)
        out.push(b)
        pos = 0
      }
      return { forward: Uint8Array.from(out), detached: false }
    },
    flush: () => {
      const held = Uint8Array.from(keys.slice(0, pos))
      pos = 0
      return held
    },
    held: () => pos
  }
}
