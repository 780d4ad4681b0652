import { describe, expect, it } from "@effect/vitest"
import { dateTs, LineJoiner, mergeByTime, parseAll, parseRecord, tsDate } from "../../src/observe/record.js"
import { isTimeError, parseDurationMs, parseTime } from "../../src/observe/time.js"

const T = (ms: number) => `2026-11-23T12:00:00.${String(ms).padStart(3, "0")}000000Z`
const rec = (ts: string, stream: string, flag: string, text: string) => `${ts} ${stream} ${flag} ${text}`

describe("log record parser", () => {
  it("parses every record kind", () => {
    for (const stream of ["stdout", "stderr", "tty"] as const) {
      for (const flag of ["F", "P"]) {
        const r = parseRecord(Buffer.from(rec(T(5), stream, flag, "hello world")))
        expect(r?.stream).toBe(stream)
        expect(r?.full).toBe(flag === "F")
        expect(r?.text.toString()).toBe("hello world")
        expect(r?.ts).toBe(T(5))
      }
    }
    // Empty text and text with spaces at the edges are kept as they are.
    expect(parseRecord(Buffer.from(rec(T(1), "stdout", "F", "")))?.text.length).toBe(0)
    expect(parseRecord(Buffer.from(rec(T(1), "stdout", "F", "  a  ")))?.text.toString()).toBe("  a  ")
  })

  it("skips malformed lines", () => {
    for (
      const bad of [
        "",
        "garbage",
        `${T(1)} stdout F`, // no space after the flag
        `${T(1)} stdin F x`,
        `${T(1)} stdout X x`,
        `${T(1)} stdout FF x`,
        `2026-11-23T12:00:00Z stdout F x`, // not nanoseconds
        `2026-11-23 12:00:00.000000000Z stdout F x`
      ]
    ) {
      expect(parseRecord(Buffer.from(bad)), bad).toBeUndefined()
    }
    const entries = parseAll(
      Buffer.from([rec(T(1), "stdout", "F", "a"), "junk", rec(T(2), "stderr", "F", "b"), ""].join("\n")),
      "app"
    )
    expect(entries.map((e) => [e.stream, e.text])).toEqual([["stdout", "a"], ["stderr", "b"]])
  })

  it("joins P pieces per stream, interleaved with the other stream, across a split UTF-8 sequence", () => {
    const euro = Buffer.from("€") // 3 bytes
    const lines = [
      Buffer.from(`${T(1)} stdout P ab`),
      Buffer.concat([Buffer.from(`${T(2)} stdout P c`), euro.subarray(0, 1)]),
      Buffer.from(`${T(3)} stderr F err line`),
      Buffer.concat([Buffer.from(`${T(4)} stdout F `), euro.subarray(1), Buffer.from("d")])
    ]
    const entries = parseAll(Buffer.concat(lines.flatMap((l) => [l, Buffer.from("\n")])), "app")
    // In file order: a joined line is dated by its last piece.
    expect(entries.map((e) => [e.stream, e.text, e.partial, e.ts])).toEqual([
      ["stderr", "err line", false, T(3)],
      ["stdout", "abc€d", false, T(4)]
    ])
  })

  it("a trailing piece without its end is a partial entry; a line over the cap comes in partial entries", () => {
    const entries = parseAll(
      Buffer.from(`${rec(T(1), "stdout", "F", "x")}\n${rec(T(2), "stdout", "P", "tail")}\n`),
      "c"
    )
    expect(entries.map((e) => [e.text, e.partial])).toEqual([["x", false], ["tail", true]])
    const j = new LineJoiner("c", 10)
    const piece = (t: string, full = false) => ({ ts: T(1), stream: "stdout" as const, full, text: Buffer.from(t) })
    expect(j.push(piece("123456"))).toBeUndefined()
    expect(j.push(piece("7890AB"))?.text).toBe("1234567890AB")
    expect(j.push(piece("end", true))).toMatchObject({ text: "end", partial: false })
  })

  it("timestamps: Date and back, merge by time keeps order", () => {
    expect(tsDate(T(123)).toISOString()).toBe("2026-11-23T12:00:00.123Z")
    expect(dateTs(new Date("2026-11-23T12:00:00.123Z"))).toBe(T(123))
    const a = parseAll(Buffer.from(`${rec(T(1), "stdout", "F", "a1")}\n${rec(T(5), "stdout", "F", "a5")}\n`), "a")
    const b = parseAll(Buffer.from(`${rec(T(3), "stdout", "F", "b3")}\n`), "b")
    expect(mergeByTime([a, b]).map((e) => e.text)).toEqual(["a1", "b3", "a5"])
  })
})

describe("time arguments", () => {
  const now = new Date("2026-11-23T12:00:00Z")
  it("durations, RFC 3339, unix seconds", () => {
    expect(parseDurationMs("1h30m")).toBe(5_400_000)
    expect(parseDurationMs("500ms")).toBe(500)
    expect(parseTime("10m", now)).toEqual(new Date("2026-11-23T11:50:00Z"))
    expect(parseTime("2026-11-23T10:00:00Z", now)).toEqual(new Date("2026-11-23T10:00:00Z"))
    expect(parseTime("1700000000", now)).toEqual(new Date(1_700_000_000_000))
    const bad = parseTime("yesterday", now)
    expect(isTimeError(bad)).toBe(true)
    expect(isTimeError(parseTime("10x", now))).toBe(true)
  })
})
