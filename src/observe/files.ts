/**
 * Reading a container's log files: `<c>.log.N` … `<c>.log.1` (oldest first) then the live `<c>.log`,
 * as the monitor rotates them (PROTOCOL.md §7). Synchronous, bounded-chunk reads on open fds: a
 * reader never holds a whole file in memory, and `tail` reads from the end.
 *
 * Only complete records (ending in `\n`) are read: bytes after the last newline are a record the
 * monitor is still writing.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { LogRecord } from "./record.js"
import { parseRecord } from "./record.js"

const CHUNK = 256 * 1024

/** An open log file and the byte range of it to read. */
export interface Source {
  readonly path: string
  readonly fd: number
  readonly ino: number
  /** Read up to here (the size when opened, for the live file). */
  readonly end: number
}

const LOG_FILE = /^(.+)\.log(?:\.(\d+))?$/

/** Containers that have log files in a pod's log dir, sorted. */
export const containersIn = (dir: string): Array<string> => {
  let names: Array<string>
  try {
    names = fs.readdirSync(dir)
  } catch {
    return []
  }
  const out = new Set<string>()
  for (const n of names) {
    const m = LOG_FILE.exec(n)
    if (m) out.add(m[1]!)
  }
  return [...out].sort()
}

export const livePath = (dir: string, container: string) => path.join(dir, `${container}.log`)

/** Rotated files of a container, oldest first (`.N` … `.1`). */
export const rotatedPaths = (dir: string, container: string): Array<string> => {
  let names: Array<string>
  try {
    names = fs.readdirSync(dir)
  } catch {
    return []
  }
  const prefix = `${container}.log.`
  return names
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .map((n) => ({ n, k: Number(n.slice(prefix.length)) }))
    .sort((a, b) => b.k - a.k)
    .map(({ n }) => path.join(dir, n))
}

/** Open a file for reading; undefined when it is gone (rotation races are normal). */
export const openSource = (p: string): Source | undefined => {
  try {
    const fd = fs.openSync(p, "r") // node opens with O_CLOEXEC
    const st = fs.fstatSync(fd)
    return { path: p, fd, ino: st.ino, end: st.size }
  } catch {
    return undefined
  }
}

export const closeSource = (s: Source) => {
  try {
    fs.closeSync(s.fd)
  } catch {
    // already closed
  }
}

/**
 * A container's sources, oldest first: the live file is opened first so a rotation racing with us
 * shows up as its inode among the rotated files, which is then skipped (never read twice).
 */
export const openSources = (dir: string, container: string): Array<Source> => {
  const live = openSource(livePath(dir, container))
  const rotated = rotatedPaths(dir, container).map(openSource).filter((s): s is Source => s !== undefined)
  const seen = new Set<number>(live ? [live.ino] : [])
  const out: Array<Source> = []
  for (const s of rotated) {
    if (seen.has(s.ino)) {
      closeSource(s)
    } else {
      out.push(s)
      seen.add(s.ino)
    }
  }
  return live ? [...out, live] : out
}

/** Complete lines of `fd` in [start, end), oldest first; `onEnd` gets the offset after the last one. */
export function* linesForward(fd: number, start: number, end: number, onEnd?: (pos: number) => void) {
  let pos = start
  let carry: Buffer | undefined
  let consumed = start
  while (pos < end) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, end - pos))
    const n = fs.readSync(fd, buf, 0, buf.length, pos)
    if (n <= 0) break
    pos += n
    const data = carry ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n)
    let from = 0
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, from)) {
      const line = data.subarray(from, nl)
      consumed += nl + 1 - from
      from = nl + 1
      yield line
    }
    carry = from < data.length ? Buffer.from(data.subarray(from)) : undefined
  }
  onEnd?.(consumed)
}

/** Complete lines of `fd` before `end`, newest first (bytes after the last newline are skipped). */
export function* linesBackward(fd: number, end: number): Generator<Buffer> {
  let pos = end
  let carry: Buffer | undefined // the start of a line whose beginning lies before `pos`
  let seenNewline = false
  while (pos > 0) {
    const size = Math.min(CHUNK, pos)
    pos -= size
    const buf = Buffer.allocUnsafe(size)
    const n = fs.readSync(fd, buf, 0, size, pos)
    if (n < size) return // the file shrank (truncated): nothing sensible to read
    const data = carry ? Buffer.concat([buf, carry]) : buf
    let to = data.length
    for (let nl = data.lastIndexOf(0x0a, to - 1); nl >= 0; nl = to > 0 ? data.lastIndexOf(0x0a, to - 1) : -1) {
      if (seenNewline) yield data.subarray(nl + 1, to)
      seenNewline = true
      to = nl
    }
    carry = Buffer.from(data.subarray(0, to))
  }
  if (seenNewline && carry && carry.length > 0) yield carry
}

/** Records of a source, newest first. */
export function* recordsBackward(s: Source): Generator<LogRecord> {
  for (const line of linesBackward(s.fd, s.end)) {
    const r = parseRecord(line)
    if (r) yield r
  }
}

/**
 * The records holding a container's last `n` lines, oldest first. Reads backwards until it has `n`
 * line ends (F records), then on only as far as needed to get the first pieces of those lines.
 */
export const tailRecords = (sources: ReadonlyArray<Source>, n: number): Array<LogRecord> => {
  const out: Array<LogRecord> = []
  if (n <= 0) return out
  let ends = 0
  // Streams whose earliest collected record may continue a line begun further back.
  let open: Map<string, boolean> | undefined
  outer: for (let i = sources.length - 1; i >= 0; i--) {
    for (const r of recordsBackward(sources[i]!)) {
      if (open === undefined) {
        out.push(r)
        if (r.full && ++ends >= n) {
          open = new Map()
          for (const c of out) open.set(c.stream, true)
        }
        continue
      }
      if (open.get(r.stream) !== true) continue
      if (r.full) open.set(r.stream, false)
      else out.push(r)
      if ([...open.values()].every((v) => !v)) break outer
    }
  }
  return out.reverse()
}

/** The newest record's timestamp of a source (undefined when it has none). */
export const lastTs = (s: Source): string | undefined => {
  for (const r of recordsBackward(s)) return r.ts
  return undefined
}
