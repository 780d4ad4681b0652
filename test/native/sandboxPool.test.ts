/**
 * e2e (root): the spawner's sandbox pool (`spawner --sandbox-pool N`, PROTOCOL.md §14). A waiting
 * child holds fresh net/uts/ipc namespaces; a `sandbox` request asking for exactly those is served
 * by it (its namespaces, the request's hostname, `lo` up), and a new child is made after the
 * answer. Attacked here: the same namespaces handed out twice (concurrent requests), requests the
 * pool must not serve (a user namespace, no net), a waiting child killed (the pool stops, sandboxes
 * still work), and leaks (an unclaimed child dies with its spawner and never pinned anything).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { sandbox, type SandboxOptions } from "../../src/runtime/helper/sandbox.js"
import { unpinSandbox } from "../../src/runtime/unpin.js"
import { alive } from "../support/poll.js"
import { tmpDir } from "../support/tmp.js"
import { childrenOf, eventually, poolSpawner } from "./harness.js"

/** The spawner's one waiting child (whose net namespace is not ours). */
const waiting = (sp: number) =>
  eventually("a waiting pool child", () => {
    const [c, ...more] = childrenOf(sp)
    assert.deepStrictEqual(more, [])
    return c !== undefined && nsIno(`/proc/${c}/ns/net`) !== nsIno("/proc/self/ns/net") ? c : undefined
  })

const nsIno = (p: string) => fs.statSync(p).ino

const inNs = (ns: string, file: string, argv: Array<string>) =>
  execFileSync("nsenter", [`--${ns}=${file}`, ...argv], { encoding: "utf8" }).trim()

/** A sandbox-pool spawner for the scope; its pid. */
const sandboxPoolSpawner = (size: number) => poolSpawner({ sandboxPool: size })

/** A sandbox under `base`, unpinned when the scope closes. */
const pinned = (
  base: string,
  name: string,
  runLine: Parameters<typeof sandbox>[1],
  o: Partial<SandboxOptions> = { net: true, uts: true, ipc: true, hostname: name }
) =>
  Effect.acquireRelease(
    sandbox({ dir: path.join(base, name), ...o }, runLine),
    (sb) => Effect.orDie(unpinSandbox(sb.dir))
  )

describe("tank-helper spawner --sandbox-pool", () => {
  it.scoped(
    "a sandbox is the waiting child's namespaces, with its hostname and lo up; a new child follows",
    () =>
      Effect.gen(function*() {
        const base = yield* tmpDir("tank-pool-")
        const { pid: sp, runLine } = yield* sandboxPoolSpawner(1)
        const w1 = yield* waiting(sp)
        const held = { net: nsIno(`/proc/${w1}/ns/net`), uts: nsIno(`/proc/${w1}/ns/uts`) }
        const sb = yield* pinned(base, "pooled-one", runLine)
        assert.strictEqual(nsIno(sb.net!), held.net, "the pinned netns is the one the child held")
        assert.strictEqual(nsIno(sb.uts!), held.uts)
        assert.strictEqual(inNs("uts", sb.uts!, ["hostname"]), "pooled-one")
        assert.match(inNs("net", sb.net!, ["ip", "-o", "link", "show", "lo"]), /[<,]UP[,>]/)
        // The child served its one request and is gone; another waits, with namespaces of its own.
        assert.isFalse(alive(w1))
        const w2 = yield* waiting(sp)
        assert.notStrictEqual(w2, w1)
        assert.notStrictEqual(nsIno(`/proc/${w2}/ns/net`), held.net)
      }),
    20_000
  )

  it.scoped("concurrent requests never share namespaces", () =>
    Effect.gen(function*() {
      const base = yield* tmpDir("tank-pool-")
      const { pid: sp, runLine } = yield* sandboxPoolSpawner(2)
      yield* eventually("two waiting children", () => childrenOf(sp).length === 2 ? true : undefined)
      const names = Array.from({ length: 6 }, (_, i) => `pod-${i}`)
      const sbs = yield* Effect.forEach(names, (n) => pinned(base, n, runLine), { concurrency: "unbounded" })
      for (const ns of ["net", "uts", "ipc"] as const) {
        assert.strictEqual(new Set(sbs.map((s) => nsIno(s[ns]!))).size, names.length, `distinct ${ns}`)
      }
      assert.deepStrictEqual(sbs.map((s) => inNs("uts", s.uts!, ["hostname"])), names)
    }), 20_000)

  it.scoped(
    "a sandbox with a user namespace, or without a net namespace, is not the pool's",
    () =>
      Effect.gen(function*() {
        const base = yield* tmpDir("tank-pool-")
        const { pid: sp, runLine } = yield* sandboxPoolSpawner(1)
        const w = yield* waiting(sp)
        const held = nsIno(`/proc/${w}/ns/net`)
        const hostNet = yield* pinned(base, "host-net", runLine, { uts: true, ipc: true, hostname: "h" })
        assert.isUndefined(hostNet.net)
        const userns = yield* pinned(base, "userns", runLine, {
          net: true,
          uts: true,
          ipc: true,
          hostname: "u",
          userns: { hostUid: 3_000_000_000, hostGid: 3_000_000_000, size: 65536 }
        })
        assert.notStrictEqual(nsIno(userns.net!), held)
        assert.isTrue(alive(w), "the waiting child still waits")
        assert.strictEqual(nsIno(`/proc/${w}/ns/net`), held)
      }),
    20_000
  )

  it.scopedLive(
    "a waiting child killed stops the pool: sandboxes are still made, by a fork each",
    () =>
      Effect.gen(function*() {
        const base = yield* tmpDir("tank-pool-")
        const { pid: sp, runLine } = yield* sandboxPoolSpawner(1)
        const w = yield* waiting(sp)
        const held = nsIno(`/proc/${w}/ns/net`)
        process.kill(w, "SIGKILL")
        yield* eventually("the child reaped", () => childrenOf(sp).length === 0 ? true : undefined)
        const a = yield* pinned(base, "after-a", runLine)
        const b = yield* pinned(base, "after-b", runLine)
        assert.notStrictEqual(nsIno(a.net!), held)
        assert.notStrictEqual(nsIno(a.net!), nsIno(b.net!))
        assert.strictEqual(inNs("uts", b.uts!, ["hostname"]), "after-b")
        yield* Effect.sleep("50 millis")
        assert.deepStrictEqual(childrenOf(sp), [], "no new waiting child")
      }),
    20_000
  )

  it.scoped("an unclaimed child dies with its spawner and leaves no pin", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { pid: sp } = yield* Scope.extend(sandboxPoolSpawner(1), scope)
      const w = yield* waiting(sp)
      yield* Scope.close(scope, Exit.void)
      yield* eventually("the waiting child gone", () => alive(w) ? undefined : true)
      yield* eventually("the spawner gone", () => alive(sp) ? undefined : true)
      const nsfs = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => / nsfs /.test(l))
      assert.isFalse(nsfs.some((l) => l.includes("tank-pool-")))
    }), 20_000)
})
