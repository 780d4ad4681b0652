/**
 * e2e (root): pods in user namespaces under a real agent process. The config makes `hostUsers:
 * false` the default for pods applied from now on and names a range of host ids; two pods get
 * disjoint ranges claimed in the store, shown in their status; a restarted agent adopts them with
 * the same workloads and ranges; exec and attach work in the pod's user namespace; a delete gives
 * the range back. A pod that says `hostUsers: true` keeps the host's user namespace.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { PassThrough } from "node:stream"
import * as Api from "../../src/api/Api.js"
import * as Config from "../../src/config/Config.js"
import { attach } from "../../src/exec/Attach.js"
import { execCapture } from "../../src/exec/Exec.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { alive, until } from "../support/poll.js"
import { tankEnv } from "../support/tankEnv.js"
import { exited, startAgent } from "./fixtures/agentProcess.js"

const running = (s: PodStatus | undefined) => s?.phase === "running" && alive(s.hostPid)
const hostUid = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1])

/** A random range of 4 blocks, high up and away from the setup's `tank` entry and other tests. */
const RANGE = { start: (40_000 + Math.floor(Math.random() * 10_000)) * 65536, size: 4 * 65536 }

describe("Agent with user namespaces (root)", () => {
  it.scopedLive(
    "config default, disjoint ranges in the status, kept across an agent restart, exec and attach, released",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        fs.writeFileSync(
          path.join(env.dataDir, "config.yaml"),
          JSON.stringify({
            reconciler: { resyncIntervalMs: 1000, stopGracePeriodMs: 1000 },
            host: { dns: ["10.0.0.1"] },
            userNamespaces: { hostUsers: false, range: RANGE }
          })
        )
        const config = yield* Config.load({ dataDir: env.dataDir, env: {} })
        const store = Context.get(yield* Layer.build(layerSqlite(config.storeFile)), Store)
        const api = <A, E>(eff: Effect.Effect<A, E, Store | Config.TankConfig>) =>
          eff.pipe(Effect.provideService(Store, store), Effect.provideService(Config.TankConfig, config))
        const status = (n: string) => store.getStatus(n).pipe(Effect.map(Option.getOrUndefined))
        let agent = startAgent(env.dataDir)
        yield* Effect.addFinalizer(() => Effect.sync(() => agent.kill("SIGKILL")))
        const sleeper = {
          name: "app",
          image: env.refs.busybox,
          command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
        }
        yield* api(Api.apply({ name: "ua", containers: [sleeper] }))
        yield* api(Api.apply({ name: "ub", containers: [{ ...sleeper, tty: true, command: ["sh"] }] }))
        yield* api(Api.apply({ name: "uh", hostUsers: true, containers: [sleeper] }))
        // The config's default was applied when the pods were stored, and only where the spec was silent.
        const specs = (yield* store.list).pods
        assert.deepStrictEqual(specs.map((p) => [p.name, p.spec.hostUsers]), [["ua", false], ["ub", false], [
          "uh",
          undefined
        ]])

        const a = yield* until("ua running", status("ua"), running, 30_000)
        const b = yield* until("ub running", status("ub"), running, 30_000)
        const h = yield* until("uh running", status("uh"), running, 30_000)
        const ra = a!.userNamespace!, rb = b!.userNamespace!
        assert.notStrictEqual(ra.hostUid, rb.hostUid)
        for (const r of [ra, rb]) {
          assert.strictEqual(r.size, 65536)
          assert.isTrue(r.hostUid >= RANGE.start && r.hostUid + r.size <= RANGE.start + RANGE.size, JSON.stringify(r))
        }
        assert.strictEqual(hostUid(a!.hostPid!), ra.hostUid)
        assert.isUndefined(h!.userNamespace)
        assert.strictEqual(hostUid(h!.hostPid!), 0)

        // The agent leaves (live restore) and a new one adopts: same workloads, same ranges.
        agent.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => exited(agent)), 0)
        agent = startAgent(env.dataDir)
        yield* Effect.sleep("2 seconds")
        const a2 = yield* until("ua adopted", status("ua"), (s) => running(s) && s!.agentPid === agent.pid, 30_000)
        assert.strictEqual(a2!.hostPid, a!.hostPid)
        assert.deepStrictEqual(a2!.userNamespace, ra)

        // exec and attach reach into the pod's user namespace.
        const cfg = Layer.succeed(Config.TankConfig, config)
        const ex = yield* execCapture("ua", ["sh", "-c", "id -u; cat /proc/self/uid_map"]).pipe(Effect.provide(cfg))
        assert.deepStrictEqual(ex.stdout.trim().split("\n").map((l) => l.trim().replace(/\s+/g, " ")), [
          "0",
          `0 ${ra.hostUid} 65536`
        ])
        const input = new PassThrough()
        const output = new PassThrough()
        let seen = ""
        output.on("data", (d: Buffer) => (seen += d.toString()))
        const session = yield* Effect.fork(
          attach("ub", { input, output, size: () => ({ rows: 24, cols: 80 }) }).pipe(Effect.provide(cfg))
        )
        yield* Effect.sleep("300 millis")
        input.write("cat /proc/self/uid_map\r")
        yield* until("attach output", Effect.sync(() => seen), (t) => t.includes(`${rb.hostUid}`), 10_000)
        input.write("\x10\x11") // Ctrl-P Ctrl-Q: detach, the shell keeps running
        yield* session.await
        assert.isTrue(alive(b!.hostPid!))

        // Deleted: the range goes back (a new pod gets the lowest free block again).
        yield* api(Api.remove("ua"))
        yield* until("ua gone", status("ua"), (s) => s === undefined, 30_000)
        yield* api(Api.apply({ name: "uc", containers: [sleeper] }))
        const c = yield* until("uc running", status("uc"), running, 30_000)
        assert.strictEqual(c!.userNamespace!.hostUid, ra.hostUid)
        for (const n of ["ub", "uc", "uh"]) yield* api(Api.remove(n))
        yield* until("all gone", store.listStatus, (l) => l.statuses.length === 0, 30_000)
        agent.kill("SIGTERM")
        yield* Effect.promise(() => exited(agent))
      }),
    { timeout: 180_000 }
  )
})
