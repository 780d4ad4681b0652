/**
 * e2e (root): a workload in a pod user namespace made by `sandbox --uid-map/--gid-map` and joined
 * by the monitor (`userNamespace`): container root is an unprivileged host id, the shared layer dir
 * is seen through an idmapped mount (never chowned), writes land as the pod's ids.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { capabilitiesFor } from "../../src/runtime/helper/defaults.js"
import { removeSandbox, sandbox } from "../../src/runtime/helper/sandbox.js"
import { tmpDir } from "../support/tmp.js"
import { expectExited, runDir, runToExit, startRun } from "./harness.js"
import { busyboxRootfs } from "./rootfs.js"

/** A random 65536-aligned range high up, away from real users and other tests. */
const randomBase = () => (20_000 + Math.floor(Math.random() * 10_000)) * 65536

const podUserns = Effect.gen(function*() {
  const base = randomBase()
  const dir = path.join(yield* tmpDir("tank-userns-"), "ns")
  const sb = yield* Effect.acquireRelease(
    sandbox({
      dir,
      net: true,
      uts: true,
      ipc: true,
      hostname: "upod",
      userns: { hostUid: base, hostGid: base, size: 65536 }
    }),
    () => Effect.orDie(removeSandbox(dir))
  )
  return { base, sb }
})

const inUserns = (base: number, sb: { net?: string; uts?: string; ipc?: string; user?: string }) => (dir: string) => {
  for (const d of ["upper", "work"]) fs.chownSync(path.join(dir, d), base, base)
  return {
    namespaces: { net: { join: sb.net! }, uts: { join: sb.uts! }, ipc: { join: sb.ipc! } },
    hostname: undefined,
    userNamespace: { path: sb.user!, hostUid: base, hostGid: base, size: 65536 }
  }
}

describe("user namespaces (native, root)", () => {
  it.scopedLive("container root is the pod's host id; the layer is idmapped, never written; writes land mapped", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const { base, sb } = yield* podUserns
      const before = fs.statSync(path.join(lower, "etc/passwd"))
      const script = [
        "cat /proc/self/uid_map",
        "id -u; id -g",
        "stat -c '%u:%g' /etc/passwd / /home/tank /dev /dev/shm",
        "echo hi > /etc/passwd.new && stat -c '%u' /etc/passwd.new",
        "mkdir /tmp/d && chown 1000:1000 /tmp/d && stat -c '%u:%g' /tmp/d",
        "hostname"
      ].join("; ")
      const r = yield* runToExit(lower, (dir) => ({ ...inUserns(base, sb)(dir), argv: ["sh", "-c", script] }))
      assert.strictEqual(expectExited(r.exit), 0, r.stderr)
      const out = r.stdout.trim().split("\n").map((l) => l.trim().replace(/\s+/g, " "))
      assert.deepStrictEqual(out, [
        `0 ${base} 65536`,
        "0",
        "0",
        "0:0",
        "0:0",
        "1000:1000",
        "0:0",
        "0:0",
        "0",
        "1000:1000",
        "upod"
      ])
      // The layer dir on the host: same owner, same inode, nothing added.
      const after = fs.statSync(path.join(lower, "etc/passwd"))
      assert.strictEqual(after.uid, 0)
      assert.strictEqual(after.ino, before.ino)
      assert.isFalse(fs.existsSync(path.join(lower, "etc/passwd.new")))
      // The writable layer on the host holds the pod's ids.
      assert.strictEqual(fs.statSync(path.join(r.dir, "upper/etc/passwd.new")).uid, base)
      assert.strictEqual(fs.statSync(path.join(r.dir, "upper/tmp/d")).uid, base + 1000)
    }))

  it.scopedLive("on the host the workload runs as the mapped id with no capabilities there", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const { base, sb } = yield* podUserns
      const run = yield* startRun(lower, (dir) => ({
        ...inUserns(base, sb)(dir),
        argv: ["sleep", "30"],
        capabilities: capabilitiesFor(0)
      }))
      yield* run.client.proceed
      const status = fs.readFileSync(`/proc/${run.handle.pid}/status`, "utf8")
      const ids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)!.slice(1).map(Number)
      assert.deepStrictEqual(ids, [base, base, base, base])
      assert.notStrictEqual(fs.readlinkSync(`/proc/${run.handle.pid}/ns/user`), fs.readlinkSync("/proc/self/ns/user"))
    }))

  it.scopedLive("a host volume marked idmap: files keep their on-disk ids as container ids", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const { base, sb } = yield* podUserns
      const vol = yield* tmpDir("tank-userns-vol-")
      fs.chmodSync(vol, 0o755)
      fs.writeFileSync(path.join(vol, "owned-by-1000"), "x")
      fs.chownSync(path.join(vol, "owned-by-1000"), 1000, 1000)
      fs.mkdirSync(path.join(vol, "home"))
      fs.chownSync(path.join(vol, "home"), 1000, 1000)
      const script =
        "stat -c '%u' /vol/owned-by-1000; su tank -s /bin/sh -c 'touch /vol/home/by-1000' 2>&1; touch /vol/by-root; echo done"
      const r = yield* runToExit(lower, (dir) => ({
        ...inUserns(base, sb)(dir),
        argv: ["sh", "-c", script],
        volumes: [{ source: vol, target: "/vol", idmap: true }]
      }))
      assert.strictEqual(expectExited(r.exit), 0, r.stderr + r.stdout)
      assert.strictEqual(r.stdout, "1000\ndone\n")
      assert.strictEqual(fs.statSync(path.join(vol, "home/by-1000")).uid, 1000)
      // Container root writes as on-disk 0: what idmapping (0 → 0) means for a host directory.
      assert.strictEqual(fs.statSync(path.join(vol, "by-root")).uid, 0)
    }))
  void runDir
})
