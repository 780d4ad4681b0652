/**
 * The run record is read honestly (issue 19): only a missing file is "no record"; anything else
 * that cannot be used is a RecordUnreadable naming the file and the problem, never "gone".
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import {
  COMPACT_AT,
  parseRecord,
  readRecord,
  recordWriter,
  type RunRecord,
  viewOf,
  writeRecord
} from "../../src/runtime/record.js"

const container = {
  name: "app",
  socketPath: "/d/run/p/c/app/monitor.sock",
  exitPath: "/d/run/p/c/app/exit.json",
  pid: 10,
  monitorPid: 9,
  startTime: 123,
  env: ["A=1"],
  cwd: "/",
  uid: 0,
  gid: 0,
  groups: [],
  tty: false,
  cgroupProcs: ["/sys/fs/cgroup/pids/tank/p/app/cgroup.procs"],
  logPath: "/d/logs/p/app.log"
}

const v2: RunRecord = {
  version: 2,
  pod: "p",
  specKey: "{}",
  startedAt: "2026-01-01T00:00:00.000Z",
  phase: "running",
  steps: [{ name: "sandbox", done: true }, { name: "monitors", done: true }],
  results: {
    sandbox: { dir: "/d/run/p/ns", net: "/d/run/p/ns/net" },
    cgroups: { name: "tank-p" },
    monitors: [container]
  }
}

const problem = (text: string) =>
  Either.match(parseRecord("p", "/d/run/p/pod.json", text), {
    onLeft: (e) => ({ problem: e.problem, reason: e.reason, message: e.message }),
    onRight: () => assert.fail(`read as a record: ${text}`)
  })

describe("run record", () => {
  it("a torn, empty, foreign or unknown-version record is unreadable, with the reason", () => {
    const text = JSON.stringify(v2)
    const torn = problem(text.slice(0, text.length / 2))
    assert.strictEqual(torn.problem, "malformed")
    assert.include(torn.reason, "not JSON")
    assert.include(torn.message, "/d/run/p/pod.json")
    assert.include(problem("").reason, "empty")
    assert.include(problem(JSON.stringify({ ...v2, steps: "x" })).reason, "steps")
    assert.include(problem("{}").reason, "no version")
    const newer = problem(JSON.stringify({ ...v2, version: 3 }))
    assert.strictEqual(newer.problem, "version")
    assert.include(newer.reason, "record version 3")
  })

  it("a version 1 record (agents before the step journal) reads as a complete run", () => {
    const v1 = {
      version: 1,
      pod: "p",
      specKey: "{}",
      startedAt: v2.startedAt,
      sandbox: "/d/run/p/ns",
      netns: "/d/run/p/ns/net",
      addresses: ["10.0.0.5/24"],
      cgroup: "tank-p",
      containers: [container]
    }
    const r = Either.getOrThrow(parseRecord("p", "f", JSON.stringify(v1)))
    assert.strictEqual(r.phase, "running")
    assert.isTrue(r.steps.every((s) => s.done))
    assert.deepStrictEqual(viewOf(r), {
      pod: "p",
      specKey: "{}",
      startedAt: v2.startedAt,
      phase: "running",
      sandbox: "/d/run/p/ns",
      netns: "/d/run/p/ns/net",
      addresses: ["10.0.0.5/24"],
      cgroup: "tank-p",
      containers: [container]
    })
  })

  it.effect("on disk: missing is None; a directory in its place is an io problem; a round trip reads back", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-record-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "pod.json")
      assert.isTrue(Option.isNone(yield* readRecord("p", file)))
      fs.mkdirSync(file)
      const e = yield* Effect.flip(readRecord("p", file))
      assert.strictEqual(e.problem, "io")
      assert.include(e.reason, "EISDIR")
      assert.include(e.advice, "tank delete p")
      fs.rmdirSync(file)
      yield* writeRecord(file, v2)
      assert.deepStrictEqual(Option.getOrThrow(yield* readRecord("p", file)), v2)
      // A write that fails leaves no temporary file and says why.
      const failed = yield* Effect.flip(writeRecord(path.join(dir, "gone", "pod.json"), v2))
      assert.strictEqual(failed.code, "ENOENT")
      assert.deepStrictEqual(fs.readdirSync(dir), ["pod.json"])
    }).pipe(Effect.scoped))

  it.effect("the journal (issue 21): appends after its first write; a torn last line is the update that never was", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-record-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "pod.json")
      const read = Effect.map(readRecord("p", file), Option.getOrThrow)
      const starting: RunRecord = { ...v2, phase: "starting", steps: [], results: {} }
      // A record of an older agent (one JSON, no newline): the first write replaces it, never appends.
      fs.writeFileSync(file, JSON.stringify(v2))
      const write = recordWriter(file)
      yield* write(starting)
      assert.deepStrictEqual(yield* read, starting)
      const inode = fs.statSync(file).ino
      yield* write(v2)
      assert.deepStrictEqual(yield* read, v2)
      assert.strictEqual(fs.statSync(file).ino, inode, "appended in place, not renamed over")
      assert.strictEqual(fs.readFileSync(file, "utf8").split("\n").length, 3)

      // Killed in the middle of an append: what it held before is read.
      fs.appendFileSync(file, JSON.stringify({ ...v2, phase: "stopping" }).slice(0, 50))
      assert.deepStrictEqual(yield* read, v2)
      // The next write does not run into the torn line: the file is not as this writer left it.
      yield* write(starting)
      assert.deepStrictEqual(yield* read, starting)
      assert.strictEqual(fs.readFileSync(file, "utf8"), `${JSON.stringify(starting)}\n`)
      // A torn first line, alone, is no record.
      fs.writeFileSync(file, JSON.stringify(v2).slice(0, 50))
      assert.strictEqual((yield* Effect.flip(readRecord("p", file))).problem, "malformed")

      // Past COMPACT_AT the journal is rewritten with the current record alone.
      const compacting = recordWriter(file)
      const big: RunRecord = { ...v2, specKey: "x".repeat(COMPACT_AT / 4) }
      for (let i = 0; i < 6; i++) yield* compacting({ ...big, startedAt: new Date(i).toISOString() })
      assert.isAtMost(fs.statSync(file).size, COMPACT_AT)
      assert.strictEqual((yield* read).startedAt, new Date(5).toISOString())
      assert.deepStrictEqual(fs.readdirSync(dir), ["pod.json"])
    }).pipe(Effect.scoped))
})
