/**
 * The run root (src/runtime/runRoot.ts, layout.ts) end to end (root): a run's state on a tmpfs under
 * /run/tank, its writable layer on the data dir's disk, both removed with the run; the tmpfs let go
 * with the last runtime unless a run is left in it; layers whose run is gone swept at a runtime's
 * start; a run root that is a link or someone else's refused.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseMountinfo } from "../../src/cgroups/mountinfo.js"
import { layersDir, podLayout, runRootOf, runsDir } from "../../src/runtime/layout.js"
import { RUN_ROOT_SOURCE } from "../../src/runtime/runRoot.js"
import { Runtime } from "../../src/runtime/Runtime.js"
import { decodePod } from "../../src/spec/decode.js"
import { until } from "../support/poll.js"
import { runtimeLayer, tankEnv } from "../support/tankEnv.js"
import { tmpDir } from "../support/tmp.js"

const TMPFS_MAGIC = 0x01021994
const onTmpfs = (p: string) => fs.statfsSync(p).type === TMPFS_MAGIC
/** The source of the mount whose mount point is exactly `dir`, if any. */
const mountAt = (dir: string) =>
  parseMountinfo(fs.readFileSync("/proc/self/mountinfo", "utf8")).find((m) => m.mountPoint === dir)?.source
/** The host's /run is itself a tmpfs (systemd): then Tank mounts none of its own. */
const runIsTmpfs = onTmpfs("/run")

const uniq = (p: string) => `${p}-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`

describe("run root (live, root)", () => {
  it.scopedLive("a run's state is on a tmpfs, its writable layer on disk; both go with the run, the tmpfs with the runtime", () =>
    Effect.gen(function*() {
      const env = yield* tankEnv()
      const root = runRootOf(env.dataDir)
      const runtimeScope = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(runtimeScope, Exit.void)) // also when an assertion fails
      const runtime = Context.get(yield* Layer.buildWithScope(runtimeLayer(env), runtimeScope), Runtime)
      assert.isTrue(onTmpfs(root), `${root} is a tmpfs`)
      if (!runIsTmpfs) assert.strictEqual(mountAt(root), RUN_ROOT_SOURCE, "Tank's own tmpfs")
      assert.strictEqual(fs.statSync(root).mode & 0o777, 0o700)

      const name = uniq("rr")
      const layout = podLayout(env.dataDir, name)
      const pod = yield* decodePod({
        name,
        restart: "never",
        containers: [{ name: "app", image: env.refs.busybox, command: ["sh", "-c", "echo kept > /written; sleep 600"] }]
      })
      const podScope = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(podScope, Exit.void)) // also when an assertion fails
      yield* Scope.extend(runtime.start(pod), podScope)
      const upper = layout.container("app").upper
      // What the container writes lands in its writable layer, on the data dir's disk.
      yield* until(
        "the write in the upper dir",
        Effect.sync(() => fs.existsSync(path.join(upper, "written"))),
        (x) => x
      )
      assert.strictEqual(fs.readFileSync(path.join(upper, "written"), "utf8"), "kept\n")
      assert.isFalse(onTmpfs(upper), "the writable layer is not in memory")
      assert.isTrue(upper.startsWith(layersDir(env.dataDir) + "/"))
      // The run's state is in the run root: record, namespace pins, socket.
      assert.isTrue(fs.existsSync(layout.record) && onTmpfs(layout.record))
      assert.isTrue(layout.container("app").socket.startsWith(root + "/"))
      assert.isTrue(fs.existsSync(path.join(layout.ns, "net")))

      yield* Scope.close(podScope, Exit.void)
      assert.isFalse(fs.existsSync(layout.run), "run dir gone with the run")
      assert.isFalse(fs.existsSync(layout.layers), "writable layers gone with the run")

      yield* Scope.close(runtimeScope, Exit.void)
      assert.isUndefined(mountAt(root), "no tmpfs left")
      assert.isFalse(fs.existsSync(root), "run root removed")
    }))

  it.scopedLive("a run left in the run root keeps it for the next runtime; layers without a run are swept", () =>
    Effect.gen(function*() {
      const env = yield* tankEnv()
      const root = runRootOf(env.dataDir)
      const live = uniq("live")
      const ghost = uniq("ghost")
      const first = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(first, Exit.void)) // also when an assertion fails
      yield* Layer.buildWithScope(runtimeLayer(env), first)
      // Two writable layers: one whose run is there (an agent's live pod), one whose run is gone
      // (its run dir lost, as a reboot loses the run root).
      fs.mkdirSync(podLayout(env.dataDir, live).run, { recursive: true })
      for (const p of [live, ghost]) {
        fs.mkdirSync(podLayout(env.dataDir, p).container("app").upper, { recursive: true })
        fs.writeFileSync(path.join(podLayout(env.dataDir, p).container("app").upper, "data"), p)
      }
      // The runtime ends with a run in the run root (live restore): all of it stays, mounted.
      yield* Scope.close(first, Exit.void)
      assert.isTrue(fs.existsSync(podLayout(env.dataDir, live).run))
      if (!runIsTmpfs) assert.strictEqual(mountAt(root), RUN_ROOT_SOURCE)

      const second = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(second, Exit.void)) // also when an assertion fails
      yield* Layer.buildWithScope(runtimeLayer(env), second)
      yield* until(
        "the ghost's layers swept",
        Effect.sync(() => fs.existsSync(podLayout(env.dataDir, ghost).layers)),
        (x) => !x
      )
      assert.isTrue(
        fs.existsSync(path.join(podLayout(env.dataDir, live).container("app").upper, "data")),
        "a live run's layers are kept"
      )
      // Its run undone by hand; the last runtime out lets the run root go.
      fs.rmSync(podLayout(env.dataDir, live).run, { recursive: true })
      fs.rmSync(podLayout(env.dataDir, live).layers, { recursive: true })
      yield* Scope.close(second, Exit.void)
      assert.isUndefined(mountAt(root))
      assert.isFalse(fs.existsSync(root))
      assert.isFalse(fs.existsSync(runsDir(env.dataDir)))
    }))

  it.scopedLive("a run root that is a link, or someone else's, is refused: nothing is mounted through it", () =>
    Effect.gen(function*() {
      const env = yield* tankEnv()
      const root = runRootOf(env.dataDir)
      const elsewhere = yield* tmpDir("tank-runroot-target-")
      fs.mkdirSync(path.dirname(root), { recursive: true, mode: 0o700 })
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(root, { recursive: true, force: true })))
      fs.symlinkSync(elsewhere, root)
      const linked = yield* Effect.flip(Effect.scoped(Layer.build(runtimeLayer(env))))
      assert.strictEqual(linked._tag, "RunRootFailed")
      assert.include((linked as { message: string }).message, "not a directory")
      assert.isUndefined(mountAt(elsewhere), "nothing mounted on the link's target")
      assert.isUndefined(mountAt(root))
      fs.rmSync(root)

      fs.mkdirSync(root, { mode: 0o700 })
      fs.chownSync(root, 65534, 65534)
      const foreign = yield* Effect.flip(Effect.scoped(Layer.build(runtimeLayer(env))))
      assert.strictEqual(foreign._tag, "RunRootFailed")
      assert.include((foreign as { message: string }).message, "owned by uid 65534")
      assert.isUndefined(mountAt(root))
      fs.rmdirSync(root)
    }))
  it.scopedLive("runs of the layout before the run root (<dataDir>/run) are named and refused, not started twice", () =>
    Effect.gen(function*() {
      const env = yield* tankEnv()
      const earlier = path.join(env.dataDir, "run", "old-web")
      fs.mkdirSync(earlier, { recursive: true })
      fs.writeFileSync(path.join(earlier, "pod.json"), "{}\n")
      const refused = yield* Effect.flip(Effect.scoped(Layer.build(runtimeLayer(env))))
      assert.strictEqual(refused._tag, "RunRootFailed")
      assert.include(refused.message, "old-web")
      assert.include(refused.message, "tank delete")
      // Nothing left mounted by the refused runtime; once the old run is gone it starts.
      assert.isUndefined(mountAt(runRootOf(env.dataDir)))
      fs.rmSync(path.join(env.dataDir, "run"), { recursive: true })
      yield* Effect.scoped(Layer.build(runtimeLayer(env)))
    }))
})
