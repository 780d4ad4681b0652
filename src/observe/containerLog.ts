/**
 * One container's log as a reader sees it: history (the last N lines, or everything since T, across
 * rotated files) and then, when following, what the monitor appends.
 *
 * Following survives what the monitor does to the live file:
 * - rotation (`c.log` renamed to `c.log.1`, a new `c.log` created): once the path names another inode,
 *   the old file gets no more writes (the monitor renames, opens the new file, then writes), so the
 *   old fd is drained to its end and the new file read from 0;
 * - truncation (`maxFiles: 0`): the size drops below our offset, read again from 0;
 * - restarts of the pod: a new monitor appends to the same file, nothing to do;
 * - the pod's log dir removed (pod deleted) and maybe re-created: the path is missing for a while
 *   (keep waiting), then names a new inode (read it from 0).
 */
import * as fs from "node:fs"
import type { Source } from "./files.js"
import { closeSource, linesForward, livePath, openSource, openSources, tailRecords } from "./files.js"
import type { LogEntry } from "./record.js"
import { LineJoiner, parseRecord } from "./record.js"

/** Most bytes one poll reads from one file (a very chatty container is caught up over several polls). */
const POLL_BYTES = 8 * 1024 * 1024

export class ContainerLog {
  readonly joiner: LineJoiner
  private live: { fd: number; ino: number; pos: number } | undefined
  private lastData = Date.now()
  /** Files open for history: closed when read, or by `close` if the reader is abandoned midway. */
  private readonly opened = new Set<Source>()

  constructor(readonly dir: string, readonly container: string, maxLineBytes?: number) {
    this.joiner = new LineJoiner(container, maxLineBytes)
  }

  /** The records of the last `n` lines (pieces of a line held back, unless `flush`). */
  tail(n: number, keepLive: boolean): Array<LogEntry> {
    const sources = this.open()
    try {
      const out: Array<LogEntry> = []
      for (const r of tailRecords(sources, n)) {
        const e = this.joiner.push(r)
        if (e) out.push(e)
      }
      if (keepLive) this.keep(sources)
      return out
    } finally {
      this.closeUnkept(sources)
    }
  }

  /** Every line from the files (optionally skipping files that end before `sinceTs`), oldest first. */
  *all(sinceTs: string | undefined, keepLive: boolean): Generator<LogEntry> {
    const sources = this.open()
    try {
      const last = sources[sources.length - 1]
      for (const s of sources) {
        const isLive = s === last && s.path === livePath(this.dir, this.container)
        if (sinceTs !== undefined && !isLive && (lastTsOf(s) ?? "") < sinceTs) continue
        let end = s.end
        for (const line of linesForward(s.fd, 0, s.end, (p) => (end = p))) {
          const r = parseRecord(line)
          const e = r && this.joiner.push(r)
          if (e) yield e
        }
        if (isLive && keepLive) this.live = { fd: s.fd, ino: s.ino, pos: end }
      }
    } finally {
      this.closeUnkept(sources)
    }
  }

  /** Start following at the live file's end (no history). */
  startAtEnd(): void {
    const s = openSource(livePath(this.dir, this.container))
    if (s) this.live = { fd: s.fd, ino: s.ino, pos: completeEnd(s) }
  }

  /** New lines since the last poll. `holdMs`: hand out a line's pieces when nothing came for this long. */
  poll(holdMs: number): Array<LogEntry> {
    const out: Array<LogEntry> = []
    const got = this.readLive(out)
    const now = Date.now()
    if (got) this.lastData = now
    else if (this.joiner.holding && now - this.lastData >= holdMs) out.push(...this.joiner.flush())
    return out
  }

  /** Lines still held (end of a non-following read). */
  flush(): Array<LogEntry> {
    return this.joiner.flush()
  }

  close(): void {
    for (const s of this.opened) if (this.live?.fd !== s.fd) closeSource(s)
    this.opened.clear()
    if (this.live) fs.closeSync(this.live.fd)
    this.live = undefined
  }

  private open(): Array<Source> {
    const sources = openSources(this.dir, this.container)
    for (const s of sources) this.opened.add(s)
    return sources
  }

  private readLive(out: Array<LogEntry>): boolean {
    let got = false
    if (this.live === undefined) {
      // Not there yet (pod not started, dir removed): from its beginning once it appears.
      const s = openSource(livePath(this.dir, this.container))
      if (s === undefined) return false
      this.live = { fd: s.fd, ino: s.ino, pos: 0 }
    }
    // Look at the path before draining: writes to the old inode end before the new one exists.
    const st = statOrUndefined(livePath(this.dir, this.container))
    got = this.drain(out)
    if (st !== undefined && st.ino !== this.live.ino) {
      fs.closeSync(this.live.fd)
      this.live = undefined
      const s = openSource(livePath(this.dir, this.container))
      if (s !== undefined) {
        this.live = { fd: s.fd, ino: s.ino, pos: 0 }
        got = this.drain(out) || got
      }
    }
    return got
  }

  private drain(out: Array<LogEntry>): boolean {
    const live = this.live!
    const size = fs.fstatSync(live.fd).size
    if (size < live.pos) live.pos = 0 // truncated (maxFiles 0)
    if (size === live.pos) return false
    const end = Math.min(size, live.pos + POLL_BYTES)
    const before = live.pos
    for (const line of linesForward(live.fd, live.pos, end, (p) => (live.pos = p))) {
      const r = parseRecord(line)
      const e = r && this.joiner.push(r)
      if (e) out.push(e)
    }
    return live.pos > before
  }

  private keep(sources: ReadonlyArray<Source>) {
    const last = sources[sources.length - 1]
    if (last && last.path === livePath(this.dir, this.container)) {
      this.live = { fd: last.fd, ino: last.ino, pos: completeEnd(last) }
    }
  }

  private closeUnkept(sources: ReadonlyArray<Source>) {
    for (const s of sources) {
      this.opened.delete(s)
      if (this.live?.fd !== s.fd) closeSource(s)
    }
  }
}

const statOrUndefined = (p: string) => {
  try {
    return fs.statSync(p)
  } catch {
    return undefined
  }
}

const lastTsOf = (s: Source): string | undefined => {
  // Cheap: the last complete record is within the last 32 KiB (records are at most ~16 KiB + header).
  const from = Math.max(0, s.end - 32 * 1024)
  let ts: string | undefined
  for (const line of linesForward(s.fd, from, s.end)) {
    const r = parseRecord(line)
    if (r) ts = r.ts
  }
  return ts
}

/** Offset just after the last newline before `end` (where the next complete record starts). */
const completeEnd = (s: Source): number => {
  let end = 0
  const from = Math.max(0, s.end - 64 * 1024)
  const buf = Buffer.allocUnsafe(s.end - from)
  const n = fs.readSync(s.fd, buf, 0, buf.length, from)
  const nl = buf.subarray(0, n).lastIndexOf(0x0a)
  if (nl >= 0) end = from + nl + 1
  else if (from > 0) end = from // a record longer than the window: cannot happen with the monitor's cap
  return end
}
