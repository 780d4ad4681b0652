/**
 * A memo of stored texts already proven to decode to exactly their own JSON, for `tank ps`
 * (psReader.ts, quickPsLite.ts): spec texts (a whole-Pod Schema decode costs ~0.5-1 ms a pod in ps's
 * short process, whose code runs unoptimized: `--no-opt`) and status texts. The Store writes each
 * spec and status as its canonical form (every default spelled out), whose decode is JSON.parse of
 * the same text.
 *
 * The memo holds texts, whole, each recorded only after this very build's Store decoder (rows.ts's
 * specOf for a spec, layout.ts's statusBodyOf for a status, as the Store reads every row) accepted
 * that text AND its result equals JSON.parse of the text, key order included; specs and statuses in
 * separate lists (a text proven as one kind is never served as the other). A text found in the memo
 * (compared whole, byte for byte: no digest, so no collision to argue about) is therefore served as
 * JSON.parse(text) — what the decode would give — without running the decode. Anything else is
 * decoded whole, so:
 *   - a hand-edited or corrupted row has another text: decoded, and reported invalid with the
 *     Store's own reason, exactly as before;
 *   - a damaged memo file can only lose entries (a changed text matches no row's text): those rows
 *     are decoded again; an unreadable file is an empty memo;
 *   - another build (a changed schema) has another `tag`: its memo is discarded whole. The tag is the
 *     digest of ps's heavy bundle (quick-ps.cjs, whose decoder proves the texts), and the lite bundle
 *     (quick-ps-lite.cjs, which holds no decoder at all and serves a listing only when every text is
 *     in the memo, else hands the whole line to the heavy one) checks that same digest: it trusts only
 *     what the decoder built beside it proved (scripts/snapshot.mjs defines the digest into both).
 * Only a deliberate forgery (an invalid text written into the memo by someone who can write the
 * private data dir, and so the database itself) could make ps list an invalid row as valid: the file
 * is read only when this user alone can write it (memoFile.ts).
 *
 * Pure: the decoder is passed in; the file's I/O is memoFile.ts's.
 */
import { Either } from "effect"

/** Plain JSON data equal in every value and in key order (a decoded Pod is plain data). */
export const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!
    if (k !== kb[i] || !sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false
  }
  return true
}

/** The memo file's content: the build it was proven with, and the proven texts of each kind. */
export interface MemoFile {
  readonly tag: string
  readonly specs: ReadonlyArray<string>
  readonly statuses: ReadonlyArray<string>
}

/** The proven texts, by kind. */
export interface Memo {
  readonly specs: ReadonlySet<string>
  readonly statuses: ReadonlySet<string>
}

/**
 * Texts longer than this are decoded at every read, never remembered: the memo file stays small
 * (its read is JSON.parse of every remembered text), and a spec this large is rare.
 */
export const MEMO_TEXT_MAX = 64 * 1024

const texts = (list: unknown): ReadonlySet<string> =>
  new Set(Array.isArray(list) ? list.filter((d): d is string => typeof d === "string") : [])

/** The texts a memo file holds for `tag` (none for another build's file, or one that is not a memo). */
export const memoTexts = (content: unknown, tag: string): Memo => {
  if (typeof content !== "object" || content === null) return { specs: new Set(), statuses: new Set() }
  const { specs, statuses, tag: builtBy } = content as Record<string, unknown>
  if (builtBy !== tag) return { specs: new Set(), statuses: new Set() }
  return { specs: texts(specs), statuses: texts(statuses) }
}

/**
 * A decoder over `decode` (the Store's, of specs or of status bodies) that skips the decode for texts the memo holds.
 * `proven` collects this read's texts that are proven (from the memo or by a decode just now): the
 * next memo. `changed`: whether that differs from the memo read (a new proof, or a text no longer
 * among the rows), i.e. whether the file is worth rewriting.
 */
export const memoDecoder = <S>(known: ReadonlySet<string>, decode: (text: string) => Either.Either<S, string>) => {
  const proven = new Set<string>()
  let fresh = 0
  const specOf = (text: string): Either.Either<S, string> => {
    if (known.has(text)) {
      proven.add(text)
      return Either.right(JSON.parse(text) as S)
    }
    const decoded = decode(text)
    if (text.length <= MEMO_TEXT_MAX && Either.isRight(decoded) && sameJson(decoded.right, JSON.parse(text))) {
      if (!proven.has(text)) fresh++
      proven.add(text)
    }
    return decoded
  }
  return {
    specOf,
    proven: (): ReadonlySet<string> => proven,
    changed: (): boolean => fresh > 0 || [...known].some((t) => !proven.has(t))
  }
}
