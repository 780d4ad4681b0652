/**
 * Privileges, attacked from inside real pods (root): a setuid-root binary in the image gives a
 * non-root workload nothing (no_new_privs, on by default), and does when the spec opts out — so the
 * probe can tell; capabilities.add/drop shape the sets (ALL included); explicit rlimits instead of
 * the agent's own; a private cgroup namespace. The same holds for exec'd processes. The probe is
 * test/support/probes/capstatus.c, installed setuid root as /probe/capstatus-suid.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { DEFAULT_CAPABILITIES } from "../../src/runtime/helper/defaults.js"
import { CAPABILITY_NAMES } from "../../src/spec/security.js"
import { execJson, MachineLive, probeRootfs, runJson, startSleeper } from "./support.js"

const maskOf = (caps: ReadonlyArray<string>) =>
  caps.reduce((m, c) => m | (1n << BigInt(CAPABILITY_NAMES.indexOf(c.replace(/^CAP_/, "") as never))), 0n)
    .toString(16).padStart(16, "0")
const DOCKER = maskOf(DEFAULT_CAPABILITIES)

/** This host's hard NOFILE (the default's hard limit is capped by it). */
const hostHardNofile = () => {
  const line = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"))!
  const hard = line.split(/\s{2,}/)[2]!
  return hard === "unlimited" ? Infinity : Number(hard)
}

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("privileges (live, root)", (it) => {
  it.scoped("a setuid-root binary lifts a non-root workload to nothing (no_new_privs), in the workload and in exec", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const { json } = yield* runJson(rootfs, "pv-suid", ["/probe/capstatus-suid"], { user: "1000:1000" })
      assert.deepInclude(json, { uid: 1000, euid: 1000, CapEff: "0000000000000000", CapPrm: "0000000000000000" })
      assert.strictEqual(json["NoNewPrivs"], "1")
      const { name } = yield* startSleeper(rootfs, "pv-suid-ex", { user: "1000:1000" })
      const ex = yield* execJson(name, ["/probe/capstatus-suid"])
      assert.deepInclude(ex, { euid: 1000, CapEff: "0000000000000000", NoNewPrivs: "1", Seccomp: "2" })
    }))

  it.scoped("noNewPrivileges: false lets the same binary lift (the attack the default stops), still bounded", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const { json } = yield* runJson(rootfs, "pv-suid-off", ["/probe/capstatus-suid"], {
        user: "1000:1000",
        noNewPrivileges: false
      })
      assert.deepInclude(json, { uid: 1000, euid: 0, NoNewPrivs: "0", Seccomp: "2" })
      // setuid root gets the bounding set, never more: docker's list.
      assert.strictEqual(json["CapEff"], DOCKER)
      assert.strictEqual(json["CapBnd"], DOCKER)
    }))

  it.scoped("capabilities: drop and add on top of docker's set; drop ALL + add one; exec gets the same", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const a = yield* runJson(rootfs, "pv-caps", ["/probe/capstatus"], {
        capabilities: { drop: ["NET_RAW", "MKNOD"], add: ["NET_ADMIN"] }
      })
      const expected = maskOf([
        ...DEFAULT_CAPABILITIES.filter((c) => c !== "CAP_NET_RAW" && c !== "CAP_MKNOD"),
        "CAP_NET_ADMIN"
      ])
      assert.strictEqual(a.json["CapEff"], expected)
      assert.strictEqual(a.json["CapBnd"], expected)
      const { name } = yield* startSleeper(rootfs, "pv-caps-ex", {
        capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] }
      })
      const ex = yield* execJson(name, ["/probe/capstatus"])
      assert.strictEqual(ex["CapEff"], maskOf(["CAP_NET_BIND_SERVICE"]))
      assert.strictEqual(ex["CapBnd"], maskOf(["CAP_NET_BIND_SERVICE"]))
    }))

  it.scoped("rlimits: explicit defaults (not the agent's), overridable per container; exec gets the same", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const hard = Math.min(524288, hostHardNofile())
      const d = yield* runJson(rootfs, "pv-rl", ["/probe/capstatus"])
      assert.strictEqual(d.json["nofile"], `1024:${hard}`)
      const { name } = yield* startSleeper(rootfs, "pv-rl-ex", { rlimits: { nofile: { soft: 256, hard: 512 } } })
      assert.strictEqual((yield* execJson(name, ["/probe/capstatus"]))["nofile"], "256:512")
    }))

  it.scoped("a private cgroup namespace: the workload and exec see '/' for every hierarchy, not host paths", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const { json } = yield* runJson(rootfs, "pv-cg", ["/probe/capstatus"])
      const lines = String(json["cgroup"]).split("|")
      assert.isAbove(lines.length, 0)
      for (const l of lines) assert.match(l, /:\/$/, String(json["cgroup"]))
      const { name } = yield* startSleeper(rootfs, "pv-cg-ex")
      const ex = String((yield* execJson(name, ["/probe/capstatus"]))["cgroup"]).split("|")
      for (const l of ex) assert.match(l, /:\/$/, ex.join("|"))
    }))
})
