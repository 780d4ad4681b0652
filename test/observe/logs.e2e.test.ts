/**
 * Logs end to end (root): busybox pods under the live Runtime, their output written by the native
 * monitors, read back with `logs`.
 */
import { assert, layer } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { logs } from "../../src/observe/logs.js"
import type { LogEntry, LogsOptions } from "../../src/observe/logs.js"
import { runsDir } from "../../src/runtime/layout.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { Machine, MachineLive, onMachine, podName, RUN_TAG, SMALL_LOG, startPod } from "./machine.js"

const pod = (name: string, env: { refs: { busybox: string } }, script: string, extra: object = {}) => ({
  name,
  restart: "never",
  containers: [{ name: "app", image: env.refs.busybox, command: ["sh", "-c", script], ...extra }]
})

const read = (name: string, opts: LogsOptions = {}) =>
  onMachine(Stream.runCollect(logs(name, opts)).pipe(Effect.map(Chunk.toArray)))

const texts = (es: ReadonlyArray<LogEntry>) => es.map((e) => e.text)

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("logs (live, root)", (it) => {
  it.scoped("stdout and stderr lines separately; tail; since; a tty pod's output as tty", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const before = yield* leakSnapshot({ pathPrefixes: [runsDir(env.dataDir)], processMarkers: [RUN_TAG] })
      const name = podName("logs-basic")
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* startPod(
          pod(name, env, "echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf 'no newline'; exit 3")
        )
        assert.deepStrictEqual(yield* h.wait, { _tag: "Exited", code: 3 })
        const all = yield* read(name)
        assert.deepStrictEqual(texts(all.filter((e) => e.stream === "stdout")), ["out1", "out2", "no newline"])
        assert.deepStrictEqual(texts(all.filter((e) => e.stream === "stderr")), ["err1", "err2"])
        assert.isTrue(all.every((e) => e.container === "app"))
        assert.deepStrictEqual(all.map((e) => e.partial), [false, false, false, false, true])
        // Ordered by time, and the time is now-ish.
        assert.deepStrictEqual(all.map((e) => e.ts), all.map((e) => e.ts).sort())
        assert.isBelow(Math.abs(Date.now() - all[0]!.at.getTime()), 60_000)
        assert.deepStrictEqual(texts(yield* read(name, { tail: 2 })), ["err2", "no newline"])
        assert.deepStrictEqual(texts(yield* read(name, { streams: ["stderr"], tail: 1 })), ["err2"])
        assert.deepStrictEqual(yield* read(name, { since: new Date(Date.now() + 60_000) }), [])
        assert.strictEqual((yield* read(name, { since: "1m" })).length, 5)
      }))

      const tty = podName("logs-tty")
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* startPod(pod(tty, env, "echo hello-tty; echo second; tty", { tty: true }))
        yield* h.wait
        const all = yield* read(tty)
        assert.isTrue(all.every((e) => e.stream === "tty"), JSON.stringify(all))
        // The PTY's \r\n became plain lines.
        assert.deepStrictEqual(texts(all).slice(0, 2), ["hello-tty", "second"])
        assert.match(all[2]?.text ?? "", /^\/dev\/pts\/\d+$/)
      }))
      yield* assertNoLeaks(before, { pathPrefixes: [runsDir(env.dataDir)], processMarkers: [RUN_TAG] })
    }))

  it.scoped("follow receives lines live, and keeps following across a restart of the pod", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("logs-follow")
      const spec = pod(name, env, "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done")
      const got: Array<{ text: string; seen: number }> = []
      const run1 = yield* Effect.scoped(Effect.gen(function*() {
        yield* startPod(spec)
        const follower = yield* onMachine(
          logs(name, { follow: true, tail: 0, pollMs: 50 }).pipe(
            Stream.runForEach((e) => Effect.sync(() => got.push({ text: e.text, seen: Date.now() })))
          )
        ).pipe(Effect.forkDaemon)
        for (let i = 0; i < 100 && got.length < 10; i++) yield* Effect.sleep("50 millis")
        return follower
      }))
      // The first run is gone (scope closed); the second appends to the same file.
      const n1 = got.length
      assert.isAtLeast(n1, 10)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* startPod(spec)
        for (let i = 0; i < 100 && got.length < n1 + 5; i++) yield* Effect.sleep("50 millis")
      }))
      yield* Fiber.interrupt(run1)
      // Live: consecutive ticks arrived spread over time (not in one batch at the end).
      const first = got.slice(0, 10)
      const k = Number(first[0]!.text.split(" ")[1])
      assert.deepStrictEqual(texts(first as any), Array.from({ length: 10 }, (_, i) => `tick ${k + i}`))
      assert.isAtLeast(first[9]!.seen - first[0]!.seen, 500)
      // After the restart the counter starts again at 0.
      assert.include(texts(got.slice(n1) as any), "tick 0")
      assert.isAtLeast(got.length, n1 + 5)
    }))

  it.scoped("rotation at the configured size; reading across rotated files in order", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("logs-rot")
      const pad = "x".repeat(80)
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* startPod(
          pod(name, env, `i=1; while [ $i -le 300 ]; do echo "line $i ${pad}"; i=$((i+1)); done`),
          {
            smallLogs: true
          }
        )
        yield* h.wait
        const dir = path.join(env.dataDir, "logs", name)
        const files = fs.readdirSync(dir).sort()
        assert.deepStrictEqual(files, ["app.log", "app.log.1", "app.log.2", "app.log.3"])
        for (const f of files) assert.isAtMost(fs.statSync(path.join(dir, f)).size, SMALL_LOG.maxFileBytes, f)
        const all = texts(yield* read(name))
        const nums = all.map((t) => Number(t.split(" ")[1]))
        // The newest lines, consecutive, ending with the last one; the oldest were rotated away.
        assert.strictEqual(nums[nums.length - 1], 300)
        assert.deepStrictEqual(nums, Array.from({ length: nums.length }, (_, i) => 300 - nums.length + 1 + i))
        assert.isAbove(nums.length, 60)
        assert.isBelow(nums.length, 300)
        // tail reaches back into the rotated files.
        const tail = texts(yield* read(name, { tail: nums.length - 5 }))
        assert.deepStrictEqual(tail, all.slice(5))
      }))
    }))

  it.scoped("follow through the monitor's rotations loses and repeats no line", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("logs-rotf")
      // ~90-byte records, a 4 KiB file: a rotation every ~45 lines, several per second.
      const got: Array<string> = []
      yield* Effect.scoped(Effect.gen(function*() {
        yield* startPod(
          pod(name, env, "i=0; while [ $i -lt 100000 ]; do echo \"n $i\"; i=$((i+1)); usleep 2000; done"),
          {
            smallLogs: true
          }
        )
        const follower = yield* onMachine(
          logs(name, { follow: true, tail: 0, pollMs: 20 }).pipe(
            Stream.runForEach((e) => Effect.sync(() => got.push(e.text)))
          )
        ).pipe(Effect.forkScoped)
        for (let i = 0; i < 200 && got.length < 600; i++) yield* Effect.sleep("50 millis")
        yield* Fiber.interrupt(follower)
      }))
      assert.isAtLeast(got.length, 600)
      // It did rotate under the follower, several times (600 records ≈ 28 KB through 4 KiB files).
      assert.isTrue(fs.existsSync(path.join(env.dataDir, "logs", name, "app.log.3")))
      const nums = got.map((t) => Number(t.split(" ")[1]))
      assert.deepStrictEqual(nums, Array.from({ length: nums.length }, (_, i) => nums[0]! + i))
    }))

  it.scoped("a 1 MB line is split into 16 KiB records and joined back", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("logs-big")
      const size = 1024 * 1024
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* startPod(pod(name, env, `head -c ${size} /dev/zero | tr '\\0' a; echo; echo after`))
        yield* h.wait
        const file = path.join(env.dataDir, "logs", name, "app.log")
        const records = fs.readFileSync(file, "latin1").split("\n").filter(Boolean)
        const pieces = records.filter((r) => r.split(" ")[2] === "P")
        assert.strictEqual(pieces.length, 64)
        assert.isTrue(records.every((r) => r.length <= 16384 + 60))
        const heapBefore = process.memoryUsage().heapUsed
        const all = yield* read(name)
        assert.deepStrictEqual(all.map((e) => [e.text.length, e.partial]), [[size, false], [5, false]])
        assert.isTrue(/^a+$/.test(all[0]!.text))
        // The reader holds the line and its pieces, not copies of the file.
        assert.isBelow(process.memoryUsage().heapUsed - heapBefore, 32 * size)
        const capped = yield* read(name, { maxLineBytes: 256 * 1024, tail: 10 })
        // Over the cap the pieces come in partial entries; the line's end (an empty F record: the
        // monitor split exactly 64 × 16 KiB) closes it.
        assert.deepStrictEqual(capped.map((e) => [e.text.length, e.partial]), [
          [256 * 1024, true],
          [256 * 1024, true],
          [256 * 1024, true],
          [256 * 1024, true],
          [0, false],
          [5, false]
        ])
      }))
    }))
})
