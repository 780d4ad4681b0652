/**
 * e2e (root): the monitor writes the container log itself: stream names, F/P flags, the 16 KiB
 * record cap, partial lines flushed at exit, size-based rotation, PTY output with CR stripped.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseLog, readLog, runToExit } from "./harness.js"
import { busyboxRootfs } from "./rootfs.js"

describe("Logs", () => {
  it.scopedLive("Logs_streams_flags_partialAtExit", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const r = yield* runToExit(lower, { argv: ["sh", "-c", "echo one; echo two >&2; printf tail"] })
      expect(r.log.map((l) => [l.stream, l.flag, l.text])).toEqual([
        ["stdout", "F", "one"],
        ["stderr", "F", "two"],
        ["stdout", "P", "tail"]
      ])
      for (const l of r.log) expect(l.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/)
    }))

  it.scopedLive("Logs_longLine_splitAt16KiB", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const r = yield* runToExit(lower, {
        argv: ["sh", "-c", "head -c 40000 /dev/zero | tr '\\0' a; echo; echo next"]
      })
      expect(r.log.map((l) => [l.flag, l.text.length])).toEqual([["P", 16384], ["P", 16384], ["F", 7232], ["F", 4]])
    }))

  it.scopedLive("Logs_rotation_keepsMaxFiles", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const script =
        "i=0; while [ $i -lt 300 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"
      const r = yield* runToExit(lower, (dir) => ({
        argv: ["sh", "-c", script],
        log: { path: path.join(dir, "ctr.log"), maxBytes: 4096, maxFiles: 2 }
      }))
      const p = r.config.log.path
      expect(fs.existsSync(`${p}.1`)).toBe(true)
      expect(fs.existsSync(`${p}.2`)).toBe(true)
      expect(fs.existsSync(`${p}.3`)).toBe(false)
      for (const f of [p, `${p}.1`, `${p}.2`]) expect(fs.statSync(f).size).toBeLessThanOrEqual(4096)
      const current = readLog(p)
      expect(current.at(-1)?.text).toMatch(/^line-299-/)
      // Rotated files hold the lines just before, in order, with nothing lost between them.
      const older = parseLog(fs.readFileSync(`${p}.1`, "utf8"))
      const n = (t: string) => Number(/^line-(\d+)-/.exec(t)![1])
      expect(n(current[0]!.text)).toBe(n(older.at(-1)!.text) + 1)
    }))

  it.scopedLive("Logs_tty_outputLoggedWithoutCR", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const r = yield* runToExit(lower, { argv: ["sh", "-c", "tty; echo in-a-tty"], tty: true })
      expect(r.log.map((l) => [l.stream, l.flag, l.text])).toEqual([
        ["tty", "F", "/dev/pts/0"],
        ["tty", "F", "in-a-tty"]
      ])
    }))
})
