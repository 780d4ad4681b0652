/**
 * The log readers over files written here the way the monitor writes them (record format, rotation
 * by rename, truncation): tail from the end, across rotated files, since/until, follow through
 * rotation and re-creation. The e2e test (logs.e2e.test.ts) does the same over real monitors.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { linesBackward, tailRecords } from "../../src/observe/files.js"
import { logsIn } from "../../src/observe/logs.js"
import type { LogEntry } from "../../src/observe/record.js"
import { tmpDir } from "../support/tmp.js"

const T = (s: number) => new Date(Date.UTC(2026, 10, 23, 12, 0, 0) + s * 1000).toISOString().replace("Z", "000000Z")
const line = (s: number, stream: string, text: string, flag = "F") => `${T(s)} ${stream} ${flag} ${text}\n`

const setup = Effect.gen(function*() {
  const dataDir = yield* tmpDir("tank-logs-")
  const dir = path.join(dataDir, "logs", "web")
  fs.mkdirSync(dir, { recursive: true })
  const file = (c: string, suffix = "") => path.join(dir, `${c}.log${suffix}`)
  return { dataDir, dir, file }
})

const collect = <E>(s: Stream.Stream<LogEntry, E>) =>
  Stream.runCollect(s).pipe(Effect.map((c) => Chunk.toArray(c).map((e) => `${e.container}:${e.stream}:${e.text}`)))

describe("logs (files)", () => {
  it.scoped("reads rotated files then the live one, merges containers by time, tail/since/until/streams", () =>
    Effect.gen(function*() {
      const { dataDir, file } = yield* setup
      fs.writeFileSync(file("app", ".2"), line(1, "stdout", "a1") + line(2, "stderr", "a2"))
      fs.writeFileSync(file("app", ".1"), line(3, "stdout", "a3"))
      fs.writeFileSync(file("app"), line(5, "stdout", "a5") + line(7, "stdout", "half", "P"))
      fs.writeFileSync(file("side"), line(4, "stdout", "s4") + line(6, "stderr", "s6") + "2026-11-23T12:00:0") // torn
      const all = yield* collect(logsIn(dataDir, "web"))
      assert.deepStrictEqual(all, [
        "app:stdout:a1",
        "app:stderr:a2",
        "app:stdout:a3",
        "side:stdout:s4",
        "app:stdout:a5",
        "side:stderr:s6",
        "app:stdout:half"
      ])
      assert.deepStrictEqual(yield* collect(logsIn(dataDir, "web", { tail: 3 })), [
        "app:stdout:a5",
        "side:stderr:s6",
        "app:stdout:half"
      ])
      assert.deepStrictEqual(yield* collect(logsIn(dataDir, "web", { tail: 4, container: "app" })), [
        "app:stderr:a2",
        "app:stdout:a3",
        "app:stdout:a5",
        "app:stdout:half"
      ])
      assert.deepStrictEqual(yield* collect(logsIn(dataDir, "web", { since: new Date(T(4).slice(0, 23) + "Z") })), [
        "side:stdout:s4",
        "app:stdout:a5",
        "side:stderr:s6",
        "app:stdout:half"
      ])
      assert.deepStrictEqual(
        yield* collect(logsIn(dataDir, "web", { until: T(3).slice(0, 23) + "Z", tail: 2 })),
        ["app:stderr:a2", "app:stdout:a3"]
      )
      assert.deepStrictEqual(yield* collect(logsIn(dataDir, "web", { streams: ["stderr"] })), [
        "app:stderr:a2",
        "side:stderr:s6"
      ])
      assert.deepStrictEqual(yield* collect(logsIn(dataDir, "web", { tail: 0 })), [])
    }))

  it.scoped("a filter that drops thousands of lines in a row does not end the stream early", () =>
    Effect.gen(function*() {
      const { dataDir, file } = yield* setup
      fs.writeFileSync(
        file("app"),
        Array.from({ length: 5000 }, (_, i) => line(1, "stdout", `o${i}`)).join("") + line(2, "stderr", "the one")
      )
      assert.deepStrictEqual(yield* collect(logsIn(dataDir, "web", { streams: ["stderr"] })), ["app:stderr:the one"])
      assert.deepStrictEqual(yield* collect(logsIn(dataDir, "web", { streams: ["stderr"], tail: 1 })), [
        "app:stderr:the one"
      ])
    }))

  it.scoped("no file descriptor is left open, also when the reader stops early or follows", () =>
    Effect.gen(function*() {
      const { dataDir, file } = yield* setup
      for (const suffix of [".2", ".1", ""]) {
        fs.writeFileSync(
          file("app", suffix),
          Array.from({ length: 3000 }, (_, i) => line(i, "stdout", `l${i}`)).join("")
        )
      }
      const fds = () => fs.readdirSync("/proc/self/fd").length
      const before = fds()
      assert.deepStrictEqual(yield* collect(logsIn(dataDir, "web").pipe(Stream.take(1))), ["app:stdout:l0"])
      yield* collect(logsIn(dataDir, "web", { tail: 5 }))
      yield* collect(logsIn(dataDir, "web", { follow: true, pollMs: 10 }).pipe(Stream.take(9000)))
      yield* collect(logsIn(dataDir, "web", { follow: true, tail: 1, pollMs: 10 }).pipe(Stream.take(1)))
      assert.strictEqual(fds(), before)
    }))

  it.scoped("tail reads backwards far enough to join a line split across records and files", () =>
    Effect.gen(function*() {
      const { dataDir, file } = yield* setup
      fs.writeFileSync(file("app", ".1"), line(1, "stdout", "old") + line(2, "stdout", "A", "P"))
      fs.writeFileSync(file("app"), line(3, "stderr", "e") + line(4, "stdout", "B", "P") + line(5, "stdout", "C"))
      assert.deepStrictEqual(yield* collect(logsIn(dataDir, "web", { tail: 1 })), ["app:stdout:ABC"])
      assert.deepStrictEqual(yield* collect(logsIn(dataDir, "web", { tail: 2 })), ["app:stderr:e", "app:stdout:ABC"])
    }))

  it.scoped("backwards line reading over chunk boundaries matches forward reading", () =>
    Effect.gen(function*() {
      const { file } = yield* setup
      const texts = Array.from({ length: 5000 }, (_, i) => "x".repeat(i % 300) + i)
      fs.writeFileSync(file("big"), texts.map((t, i) => line(i % 50, "stdout", t)).join(""))
      const fd = fs.openSync(file("big"), "r")
      const back = [...linesBackward(fd, fs.fstatSync(fd).size)].map((b) => b.toString().split(" ").slice(3).join(" "))
      assert.deepStrictEqual(back.reverse(), texts)
      const src = { path: file("big"), fd, ino: 0, end: fs.fstatSync(fd).size }
      assert.deepStrictEqual(tailRecords([src], 3).map((r) => r.text.toString()), texts.slice(-3))
      fs.closeSync(fd)
    }))

  it.scoped("unknown pod: PodNotFound; bad since: LogsError", () =>
    Effect.gen(function*() {
      const { dataDir } = yield* setup
      const e1 = yield* Stream.runDrain(logsIn(dataDir, "nope")).pipe(Effect.flip)
      expect(e1._tag).toBe("PodNotFound")
      const e2 = yield* Stream.runDrain(logsIn(dataDir, "../web")).pipe(Effect.flip)
      expect(e2._tag).toBe("PodNotFound")
      const e3 = yield* Stream.runDrain(logsIn(dataDir, "web", { since: "soon" })).pipe(Effect.flip)
      expect(e3._tag).toBe("LogsError")
    }))

  it.live("follow: new lines, rotation by rename, truncation, the dir removed and re-created", () =>
    Effect.scoped(Effect.gen(function*() {
      const { dataDir, dir, file } = yield* setup
      fs.writeFileSync(file("app"), line(1, "stdout", "before"))
      const got: Array<string> = []
      const fiber = yield* logsIn(dataDir, "web", { follow: true, tail: 10, pollMs: 20, holdMs: 300 }).pipe(
        Stream.runForEach((e) => Effect.sync(() => got.push(`${e.text}${e.partial ? "~" : ""}`))),
        Effect.fork
      )
      const waitFor = (n: number) =>
        Effect.gen(function*() {
          for (let i = 0; i < 200 && got.length < n; i++) yield* Effect.sleep("10 millis")
          assert.isAtLeast(got.length, n, got.join(","))
        })
      yield* waitFor(1)
      fs.appendFileSync(file("app"), line(2, "stdout", "one"))
      yield* waitFor(2)
      // Rotation as the monitor does it: the live file renamed, with a last line the follower had not read.
      fs.appendFileSync(file("app"), line(3, "stdout", "last-of-old"))
      fs.renameSync(file("app"), file("app", ".1"))
      fs.writeFileSync(file("app"), line(4, "stdout", "first-of-new"))
      yield* waitFor(4)
      // Truncation (maxFiles 0).
      fs.truncateSync(file("app"), 0)
      yield* Effect.sleep("60 millis")
      fs.appendFileSync(file("app"), line(5, "stdout", "after-truncate"))
      yield* waitFor(5)
      // A piece without its end is handed out after holdMs.
      fs.appendFileSync(file("app"), line(6, "stdout", "unfinished", "P"))
      yield* waitFor(6)
      // The pod deleted (dir gone) and re-created: the follower keeps going.
      fs.rmSync(dir, { recursive: true })
      yield* Effect.sleep("60 millis")
      fs.mkdirSync(dir)
      fs.writeFileSync(file("app"), line(7, "stdout", "reborn"))
      // A second container appears.
      fs.writeFileSync(file("side"), line(8, "stderr", "side-car"))
      yield* waitFor(8)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(got, [
        "before",
        "one",
        "last-of-old",
        "first-of-new",
        "after-truncate",
        "unfinished~",
        "reborn",
        "side-car"
      ])
    })))
})
