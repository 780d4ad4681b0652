/**
 * e2e (root), issue 19: the data dir on a small tmpfs that fills up (ENOSPC). A real agent runs a
 * pod; the tmpfs is filled to the last page; `tank apply` of a new pod and of a changed spec must
 * fail with a clear message naming the cause (no stack trace, no internal error), the running pod
 * keeps its process, the store stays readable with nothing half-written, the run records stay whole
 * (no torn record, no leftover temp file), the agent keeps running; once space is freed, the same
 * applies succeed and converge. The tmpfs is mounted on the test's own temp dir and unmounted (after
 * sweeping what the pods left) even on failure; the image cache is a symlink out of it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { podLayout, runsDir } from "../../src/runtime/layout.js"
import { readRecord } from "../../src/runtime/record.js"
import { Runtime } from "../../src/runtime/Runtime.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { buildCli, runCli } from "../cli/harness.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { alive, until } from "../support/poll.js"
import { runtimeLayer, tankEnv } from "../support/tankEnv.js"
import { exited, startAgent } from "./fixtures/agentProcess.js"

const running = (s: PodStatus | undefined) => s?.phase === "running" && alive(s.hostPid)

/** Fill the filesystem of `file` to its last page; returns how many bytes went in. */
const fill = (file: string): number => {
  const fd = fs.openSync(file, "w", 0o600)
  let written = 0
  try {
    for (const size of [1 << 20, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 1)
      for (;;) {
        try {
          written += fs.writeSync(fd, chunk)
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ENOSPC") break
          throw e
        }
      }
    }
  } finally {
    fs.closeSync(fd)
  }
  return written
}

/** Every file under `dir` (recursive), relative. */
const filesUnder = (dir: string): Array<string> =>
  fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as Array<string>) : []

describe("the data dir's filesystem is full (root)", () => {
  it.scopedLive(
    "apply fails clearly, the running pod and the records are untouched, and it converges once space is freed",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        // The data dir itself becomes a 48 MiB tmpfs; unmounted after the pods' leftovers are swept.
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=48m,mode=0700", "tank-test-full", env.dataDir])
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            const runtime = yield* Runtime
            for (const pod of yield* runtime.leftovers) yield* runtime.sweep(pod)
          }).pipe(
            Effect.provide(runtimeLayer(env)),
            Effect.scoped,
            // Said, not swallowed: a failed sweep leaves a pod behind the lazy unmount below.
            Effect.catchAllCause((cause) => Effect.logError("sweeping the full-disk test's pods failed", cause)),
            Effect.ensuring(Effect.sync(() => execFileSync("umount", ["-l", env.dataDir])))
          )
        )
        // The image cache stays on the real disk (a symlink out of the tmpfs): extraction keeps a
        // 512 MiB reserve free, which the small tmpfs never has.
        const images = `${env.dataDir}-images`
        fs.mkdirSync(images, { mode: 0o700 })
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(images, { recursive: true, force: true })))
        fs.symlinkSync(images, path.join(env.dataDir, "images"))
        const cli = buildCli()
        yield* Effect.addFinalizer(() => Effect.sync(cli.cleanup))
        fs.writeFileSync(
          path.join(env.dataDir, "config.yaml"),
          JSON.stringify({
            reconciler: { resyncIntervalMs: 500, stopGracePeriodMs: 1000 },
            host: { dns: ["10.0.0.1"] }
          })
        )
        const leakOpts = { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] }
        const before = yield* leakSnapshot(leakOpts)
        const pod = (name: string, arg: string) => ({
          name,
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", arg] }]
        })
        const specs = path.join(path.dirname(env.dataDir), `${path.basename(env.dataDir)}-specs`)
        fs.mkdirSync(specs)
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(specs, { recursive: true, force: true })))
        const specFile = (name: string, p: object) => {
          const f = path.join(specs, `${name}.json`)
          fs.writeFileSync(f, JSON.stringify(p))
          return f
        }
        const tank = (...args: Array<string>) =>
          Effect.promise(() => runCli(cli.entry, [...args, "--data-dir", env.dataDir], { timeoutMs: 60_000 }))

        const agent = startAgent(env.dataDir)
        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            if (agent.exitCode !== null || agent.signalCode !== null) return
            agent.kill("SIGTERM")
            await exited(agent)
          })
        )
        const first = yield* tank("apply", "-f", specFile("keep", pod("keep", "3600")))
        assert.strictEqual(first.code, 0, first.stderr)
        const store = Context.get(yield* Layer.build(layerSqlite(env.config.storeFile)), Store)
        const status = (name: string) => Effect.map(store.getStatus(name), Option.getOrUndefined)
        const up = yield* until("keep running", status("keep"), running, 40_000)
        const pid = up!.hostPid!
        const keepBefore = Option.getOrThrow(yield* store.get("keep"))

        const filler = path.join(env.dataDir, "filler")
        const filled = fill(filler)
        assert.isAbove(filled, 0)

        // A new pod, then a changed spec: both refused, clearly, and nothing of them stored.
        for (const [name, spec] of [["fresh", pod("fresh", "3600")], ["keep", pod("keep", "3601")]] as const) {
          const r = yield* tank("apply", "-f", specFile(name, spec))
          assert.strictEqual(r.code, 1, `apply ${name} while full: ${r.stdout}${r.stderr}`)
          assert.match(r.stderr, /^tank: .*(disk is full|no space left|ENOSPC|SQLITE_FULL)/im, r.stderr)
          assert.notInclude(r.stderr, "internal error", r.stderr)
          assert.notMatch(r.stderr, /^\s+at /m, `no stack trace: ${r.stderr}`)
        }
        assert.strictEqual(agent.exitCode, null, "the agent kept running")
        assert.isNull(agent.signalCode, "the agent kept running")
        // The store: readable, nothing half-written, the old spec still the desired one.
        assert.deepStrictEqual(yield* store.invalidRecords, [])
        const listed = yield* store.list
        assert.deepStrictEqual(listed.pods.map((p) => p.name), ["keep"])
        assert.deepStrictEqual(listed.pods[0]!.spec, keepBefore.spec)
        assert.strictEqual(listed.pods[0]!.revision, keepBefore.revision)
        // Some resyncs later the pod is the same process, and every run record is whole.
        yield* Effect.sleep("1500 millis")
        const still = yield* status("keep")
        assert.isTrue(running(still) && still!.hostPid === pid, `keep untouched: ${JSON.stringify(still)}`)
        const rec = yield* readRecord("keep", podLayout(env.dataDir, "keep").record)
        assert.isTrue(Option.isSome(rec), "keep's record reads back")
        const runDir = runsDir(env.dataDir)
        assert.deepStrictEqual(filesUnder(runDir).filter((f) => f.endsWith(".tmp")), [], "no temp file left")
        assert.isFalse(fs.existsSync(podLayout(env.dataDir, "fresh").run), "nothing of the refused pod")

        // Space back: the same applies go through and converge.
        fs.rmSync(filler)
        const again = yield* tank(
          "apply",
          "-f",
          specFile("fresh", pod("fresh", "3600")),
          "-f",
          specFile("keep", pod("keep", "3601"))
        )
        assert.strictEqual(again.code, 0, again.stderr)
        yield* until("fresh running", status("fresh"), running, 40_000)
        yield* until(
          "keep replaced by its new spec",
          Effect.zip(status("keep"), store.get("keep")),
          ([s, p]) =>
            running(s) && s!.hostPid !== pid && Option.getOrThrow(p).spec.containers[0]!.command![1] === "3601",
          40_000
        )
        const del = yield* tank("delete", "fresh", "keep")
        assert.strictEqual(del.code, 0, del.stderr)
        yield* until("all gone", Effect.map(store.listStatus, (l) => l.statuses), (l) => l.length === 0, 30_000)
        agent.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => exited(agent)), 0)
        yield* assertNoLeaks(before, leakOpts)
      }),
    { timeout: 150_000 }
  )
})
