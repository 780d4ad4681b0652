/**
 * The container log record format (native/PROTOCOL.md §7), pure:
 *
 *   <RFC 3339 UTC, 9 fraction digits> <stdout|stderr|tty> <F|P> <text>\n
 *
 * `F` ends a line, `P` is a piece of one: split at the monitor's 16 KiB cap, or a stream that ended
 * without a newline. Records are parsed from bytes (a split can cut a UTF-8 sequence in two) and a
 * line's pieces are joined as bytes before decoding.
 */

export type LogStream = "stdout" | "stderr" | "tty"

/** One parsed record, text still as bytes. */
export interface LogRecord {
  /** The raw timestamp: fixed width, so it sorts lexically like the instant it names. */
  readonly ts: string
  readonly stream: LogStream
  readonly full: boolean
  readonly text: Buffer
}

/** A line as readers see it: P pieces joined. */
export interface LogEntry {
  readonly container: string
  readonly stream: LogStream
  /**
   * When the line was written: its last piece's time. (So a container's entries keep the order of
   * its file, even when a long stdout line is completed after stderr lines written meanwhile.)
   */
  readonly at: Date
  /** The raw RFC 3339 timestamp of `at`, nanoseconds kept (for ordering and `--timestamps`). */
  readonly ts: string
  readonly text: string
  /** The line did not end: the stream stopped without a newline, or it exceeded the join cap. */
  readonly partial: boolean
}

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/
const STREAMS: ReadonlyArray<LogStream> = ["stdout", "stderr", "tty"]

/** Parse one record (without its `\n`); `undefined` for anything malformed. */
export const parseRecord = (line: Buffer): LogRecord | undefined => {
  const s1 = line.indexOf(0x20)
  if (s1 !== 30) return undefined
  const ts = line.toString("latin1", 0, s1)
  if (!TS.test(ts)) return undefined
  const s2 = line.indexOf(0x20, s1 + 1)
  if (s2 < 0) return undefined
  const stream = line.toString("latin1", s1 + 1, s2) as LogStream
  if (!STREAMS.includes(stream)) return undefined
  const flag = line[s2 + 1]
  if ((flag !== 0x46 && flag !== 0x50) || line[s2 + 2] !== 0x20) return undefined
  return { ts, stream, full: flag === 0x46, text: line.subarray(s2 + 3) }
}

/** `Date` of a record timestamp (milliseconds; the raw string keeps the rest). */
export const tsDate = (ts: string): Date => new Date(ts.slice(0, 23) + "Z")

/** The timestamp form of a Date, comparable with record timestamps. */
export const dateTs = (d: Date): string => d.toISOString().slice(0, 23) + "000000Z"

/** Default cap of a joined line: beyond it the pieces are handed out as partial entries. */
export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024

/**
 * Joins the P pieces of each stream's lines. Streams of one container interleave in its file, so
 * pieces are held per stream. Memory: at most one line per stream (bounded by `maxLineBytes`).
 */
export class LineJoiner {
  private readonly pending = new Map<LogStream, { ts: string; parts: Array<Buffer>; bytes: number }>()
  constructor(readonly container: string, readonly maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {}

  /** Feed one record; returns the entry it completes, if any. */
  push(r: LogRecord): LogEntry | undefined {
    const p = this.pending.get(r.stream)
    if (r.full && p === undefined) return this.entry(r.ts, r.stream, r.text, false)
    const held = p ?? { ts: r.ts, parts: [], bytes: 0 }
    held.parts.push(r.text)
    held.bytes += r.text.length
    held.ts = r.ts
    if (r.full) {
      this.pending.delete(r.stream)
      return this.entry(held.ts, r.stream, Buffer.concat(held.parts, held.bytes), false)
    }
    if (held.bytes >= this.maxLineBytes) {
      this.pending.delete(r.stream)
      return this.entry(held.ts, r.stream, Buffer.concat(held.parts, held.bytes), true)
    }
    this.pending.set(r.stream, held)
    return undefined
  }

  /** Whether a stream has pieces waiting for the rest of their line. */
  get holding(): boolean {
    return this.pending.size > 0
  }

  /** Hand out what is held as partial entries (end of input, or a follower tired of waiting). */
  flush(): Array<LogEntry> {
    const out: Array<LogEntry> = []
    for (const [stream, held] of this.pending) {
      out.push(this.entry(held.ts, stream, Buffer.concat(held.parts, held.bytes), true))
    }
    this.pending.clear()
    return out.sort(byTime)
  }

  private entry(ts: string, stream: LogStream, text: Buffer, partial: boolean): LogEntry {
    return { container: this.container, stream, at: tsDate(ts), ts, text: text.toString("utf8"), partial }
  }
}

export const byTime = (a: { readonly ts: string }, b: { readonly ts: string }): number =>
  a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0

/** Parse and join a whole buffer of records (tests, small files); malformed lines are skipped. */
export const parseAll = (data: Buffer, container: string, maxLineBytes?: number): Array<LogEntry> => {
  const joiner = new LineJoiner(container, maxLineBytes)
  const out: Array<LogEntry> = []
  let start = 0
  while (start < data.length) {
    let nl = data.indexOf(0x0a, start)
    if (nl < 0) nl = data.length
    const r = parseRecord(data.subarray(start, nl))
    const e = r && joiner.push(r)
    if (e) out.push(e)
    start = nl + 1
  }
  return [...out, ...joiner.flush()]
}

/** Merge per-container entry lists (each oldest first) into one, oldest first. */
export const mergeByTime = (lists: ReadonlyArray<ReadonlyArray<LogEntry>>): Array<LogEntry> =>
  lists.length === 1 ? [...lists[0]!] : lists.flat().sort(byTime)
