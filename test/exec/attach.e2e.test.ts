/**
 * attach end to end (root): a `tty: true` pod running busybox sh under the live Runtime; the client
 * in its own process under a real PTY (as a person runs it), and in-process with injected streams.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Schedule } from "effect"
import * as fs from "node:fs"
import { PassThrough } from "node:stream"
import * as Api from "../../src/api/Api.js"
import { attach, type AttachOptions } from "../../src/exec/Attach.js"
import { execCapture } from "../../src/exec/Exec.js"
import { Reconciler } from "../../src/reconciler/Reconciler.js"
import * as ReconcilerLive from "../../src/reconciler/ReconcilerLive.js"
import { Runtime } from "../../src/runtime/Runtime.js"
import { layerMemory } from "../../src/store/memory.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { clientInPty, type PtyProcess, resultOf, sttyAround } from "./pty.js"
import { Machine, MachineLive, onMachine, podName, RUN_TAG, startPod } from "./support.js"

const ttyPod = (name: string, image: string, extra: Record<string, unknown> = {}, restart = "never") => ({
  name,
  restart,
  containers: [{ name: "app", image, command: ["sh"], tty: true, ...extra }]
})

const leakOpts = (dataDir: string) => ({ pathPrefixes: [dataDir], processMarkers: [RUN_TAG] })

/** Type a command and wait for a marker it prints (the echo of the command line does not match). */
const typeAndSee = (t: PtyProcess, line: string, see: RegExp) =>
  Effect.gen(function*() {
    const m = t.mark()
    t.write(line + "\r")
    return yield* t.waitFor(see, m)
  })

/** attach in this process with injected streams; everything it prints is collected. */
const attachInProcess = (
  pod: string,
  opts: Omit<AttachOptions, "input" | "output"> = {},
  input: PassThrough = new PassThrough()
) =>
  Effect.gen(function*() {
    const output = new PassThrough()
    let text = ""
    output.on("data", (d: Buffer) => (text += d.toString("utf8")))
    const seen = (re: RegExp) =>
      Effect.retry(Effect.suspend(() => re.test(text) ? Effect.void : Effect.fail(`no ${re} in ${text}`)), {
        times: 250,
        schedule: Schedule.spaced("20 millis")
      })
    const fiber = yield* Effect.fork(onMachine(attach(pod, { ...opts, input, output })))
    return { input, fiber, seen, text: () => text }
  })

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("attach (live, root)", (it) => {
  it.scoped("detach with Ctrl-P Ctrl-Q and re-attach to the same shell; resize; one attacher; exit → {exited}", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const before = yield* leakSnapshot(leakOpts(env.dataDir))
      const name = podName("attach")
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* startPod(ttyPod(name, env.refs.busybox))
        // First session: set a shell variable, check the window size and a resize, then detach with
        // the two keys in separate writes.
        const a = yield* clientInPty(env.dataDir, ["attach", name], { cols: 90, rows: 25 })
        yield* a.waitFor(/@@PID \d+@@/)
        yield* Effect.sleep("300 millis")
        yield* typeAndSee(a, "X=kept-$((20+3)); echo set-$X", /set-kept-23/)
        yield* typeAndSee(a, "stty size", /\b25 90\b/)
        a.resize(132, 43)
        yield* Effect.sleep("300 millis")
        yield* typeAndSee(a, "stty size", /\b43 132\b/)
        // Someone else attaching meanwhile is refused, clearly.
        const second = yield* Effect.flip(
          onMachine(attach(name, { input: new PassThrough(), output: new PassThrough() }))
        )
        assert.strictEqual(second._tag, "AlreadyAttached")
        assert.match(second.message, /already attached/)
        a.write("\x10")
        yield* Effect.sleep("200 millis")
        a.write("\x11")
        assert.strictEqual(yield* resultOf(a), "detached")
        const s1 = yield* sttyAround(a)
        assert.strictEqual(s1.after, s1.before)
        assert.isTrue(fs.existsSync(`/proc/${h.hostPid}`), "detaching leaves the pod running")

        // Second session: same process, same shell state; detach with both keys in one write.
        const b = yield* clientInPty(env.dataDir, ["attach", name])
        yield* b.waitFor(/@@PID \d+@@/)
        yield* Effect.sleep("300 millis")
        yield* typeAndSee(b, "echo again-$X pid=$$", /again-kept-23 pid=1\b/)
        b.write("\x10\x11")
        assert.strictEqual(yield* resultOf(b), "detached")

        // Third session: the main process exits; attach returns how, and the Runtime sees the same.
        const c = yield* clientInPty(env.dataDir, ["attach", name])
        yield* c.waitFor(/@@PID \d+@@/)
        yield* Effect.sleep("300 millis")
        c.write("exit 3\r")
        assert.deepStrictEqual(yield* resultOf(c), { exited: 3 })
        const s3 = yield* sttyAround(c)
        assert.strictEqual(s3.after, s3.before)
        assert.deepStrictEqual(yield* h.wait, { _tag: "Exited", code: 3 })
        // Down now: attach and exec refuse.
        assert.strictEqual((yield* Effect.flip(onMachine(attach(name))))._tag, "NotRunning")
      }))
      yield* assertNoLeaks(before, leakOpts(env.dataDir))
    }))

  it.scoped("the terminal is restored when the client is killed mid-session; the pod can be re-attached", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("attach-kill")
      const h = yield* startPod(ttyPod(name, env.refs.busybox))
      const a = yield* clientInPty(env.dataDir, ["attach", name])
      const pid = Number((yield* a.waitFor(/@@PID (\d+)@@/))[1])
      yield* Effect.sleep("300 millis")
      yield* typeAndSee(a, "Y=survives; echo y-$Y", /y-survives/)
      process.kill(pid, "SIGTERM")
      const s = yield* sttyAround(a)
      assert.strictEqual(s.after, s.before)
      assert.match(a.output(), /@@RC 143@@/) // died of SIGTERM (re-raised after restoring)
      assert.isTrue(fs.existsSync(`/proc/${h.hostPid}`))
      // In-process, with injected streams: the monitor let the killed client go.
      const s2 = yield* attachInProcess(name)
      yield* Effect.sleep("200 millis")
      s2.input.write("echo inproc-$Y\r")
      yield* s2.seen(/inproc-survives/)
      s2.input.write("\x10\x11")
      assert.strictEqual(yield* Fiber.join(s2.fiber), "detached")
    }))

  it.scoped("a Ctrl-P followed by another key forwards both; a custom detach key works", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("attach-keys")
      yield* startPod(ttyPod(name, env.refs.busybox))
      const s = yield* attachInProcess(name)
      yield* Effect.sleep("200 millis")
      s.input.write("stty raw -echo; head -c 3 | od -An -tx1; stty sane\r")
      yield* Effect.sleep("300 millis")
      s.input.write("\x10")
      s.input.write("a")
      s.input.write("\x10\x10") // Ctrl-P Ctrl-P: both forwarded (a literal Ctrl-P, as in docker)
      yield* s.seen(/10 61 10/)
      s.input.write("\x11") // the second Ctrl-P was forwarded, so this Ctrl-Q alone is just a key
      yield* Effect.sleep("200 millis")
      assert.isNull(s.fiber.unsafePoll())
      s.input.write("\x10\x11")
      assert.strictEqual(yield* Fiber.join(s.fiber), "detached")
      // The input already has a reader (as a REPL's readline): the session owns the input while it
      // lasts, the reader gets it back afterwards.
      const input = new PassThrough()
      const before: Array<string> = []
      input.on("data", (d: Buffer) => before.push(d.toString()))
      input.write("for the repl")
      const t = yield* attachInProcess(name, { detachKeys: "ctrl-a,d" }, input)
      yield* Effect.sleep("200 millis")
      t.input.write("\x10\x11echo custom-ok\r")
      yield* t.seen(/custom-ok/)
      assert.isNull(t.fiber.unsafePoll())
      t.input.write("\x01d")
      assert.strictEqual(yield* Fiber.join(t.fiber), "detached")
      input.write("after")
      yield* Effect.sleep("50 millis")
      assert.deepStrictEqual(before, ["for the repl", "after"])
    }))

  it.scoped("the agent's reconciler applies the restart policy when the attached main process exits", () =>
    Effect.gen(function*() {
      const { ctx, env } = yield* Machine
      const before = yield* leakSnapshot(leakOpts(env.dataDir))
      const name = podName("attach-rs")
      yield* Effect.scoped(Effect.gen(function*() {
        const agent = yield* Layer.build(
          ReconcilerLive.layer({ resyncIntervalMs: 200, backoff: { baseMs: 100 }, stopPodsOnExit: true }).pipe(
            Layer.provideMerge(layerMemory),
            Layer.provide(Layer.succeedContext(ctx)),
            // No boot sweep: Runtime.leftovers lists every tank/<pod> cgroup on the machine, so a
            // reconciler booting here would sweep the pods of tests running in parallel.
            Layer.provide(Layer.succeed(Runtime, { ...Context.get(ctx, Runtime), leftovers: Effect.succeed([]) }))
          )
        )
        const reconciler = agent.unsafeMap.get(Reconciler.key) as typeof Reconciler.Service
        const statusOf = Effect.map(reconciler.observed, (all) => all.find((x) => x.name === name))
        const waitStatus = (ok: (s: NonNullable<Effect.Effect.Success<typeof statusOf>>) => boolean) =>
          Effect.retry(
            Effect.flatMap(statusOf, (s) => s && ok(s) ? Effect.succeed(s) : Effect.fail(s)),
            { times: 400, schedule: Schedule.spaced("50 millis") }
          )
        yield* Api.apply(ttyPod(name, env.refs.busybox, {}, "on_failure")).pipe(Effect.provide(agent))
        yield* reconciler.sync
        const first = yield* waitStatus((s) => s.phase === "running" && s.hostPid !== undefined)
        const a = yield* clientInPty(env.dataDir, ["attach", name])
        yield* a.waitFor(/@@PID \d+@@/)
        yield* Effect.sleep("300 millis")
        yield* typeAndSee(a, "Z=first-run; echo z-$Z", /z-first-run/)
        a.write("exit 3\r")
        assert.deepStrictEqual(yield* resultOf(a), { exited: 3 })
        // on_failure + exit 3: the reconciler starts a fresh run (a new shell, the variable is gone).
        const second = yield* waitStatus((s) =>
          s.restarts === 1 && s.phase === "running" && s.hostPid !== undefined && s.hostPid !== first.hostPid
        )
        assert.strictEqual(second.lastExit?.code, 3)
        const b = yield* clientInPty(env.dataDir, ["attach", name])
        yield* b.waitFor(/@@PID \d+@@/)
        yield* Effect.sleep("300 millis")
        yield* typeAndSee(b, "echo fresh-[$Z]", /fresh-\[\]/)
        b.write("\x10\x11")
        assert.strictEqual(yield* resultOf(b), "detached")
      }))
      yield* assertNoLeaks(before, leakOpts(env.dataDir))
    }))

  it.scoped("typed errors: NotATty, NotRunning, ContainerNotFound", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const plain = podName("attach-plain")
      yield* startPod({
        name: plain,
        restart: "never",
        containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
      })
      const io = { input: new PassThrough(), output: new PassThrough() }
      const notTty = yield* Effect.flip(onMachine(attach(plain, io)))
      assert.deepInclude(notTty, { _tag: "NotATty", pod: plain, container: "app" })
      assert.strictEqual((yield* Effect.flip(onMachine(attach(podName("missing"), io))))._tag, "NotRunning")
      assert.deepInclude(yield* Effect.flip(onMachine(attach(plain, { ...io, container: "db" }))), {
        _tag: "ContainerNotFound",
        available: ["app"]
      })
      // A tty pod whose shell already exited.
      const done = podName("attach-done")
      const h = yield* startPod(ttyPod(done, env.refs.busybox, { command: ["sh", "-c", "exit 0"] }))
      yield* h.wait
      const gone = yield* Effect.flip(onMachine(attach(done, io)))
      assert.strictEqual(gone._tag, "NotRunning")
      assert.strictEqual((yield* Effect.flip(onMachine(execCapture(done, ["true"]))))._tag, "NotRunning")
    }))
})
