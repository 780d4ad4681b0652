/**
 * Seccomp, attacked from inside real pods (root): the default filter (docker's profile) is in force
 * in the workload and in every exec'd process; the calls docker forbids fail with EPERM on every
 * x86 ABI (native, i386 through int $0x80, x32); ordinary programs (busybox applets, the httpd
 * fixture) work; `unconfined` and user profiles (docker and OCI format) take effect; a broken
 * profile fails the start naming the field. The probe is test/support/probes/syscalls.c.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { execCapture } from "../../src/exec/Exec.js"
import { DEFAULT_PROFILE } from "../../src/runtime/security/seccompProfile.js"
import { tmpDir } from "../support/tmp.js"
import {
  execJson,
  Machine,
  MachineLive,
  onMachine,
  podName,
  probeRootfs,
  runJson,
  startPod,
  startSleeper
} from "./support.js"

/** What docker's default profile forbids and the probe tries. */
const FORBIDDEN = [
  "keyctl",
  "add_key",
  "unshare_user",
  "unshare_net",
  "clone_newuser",
  "bpf",
  "perf_event_open",
  "mount",
  "kexec_load",
  "open_by_handle_at",
  "userfaultfd",
  "personality_exec",
  "socket_vsock",
  "swapon",
  "i386_keyctl",
  "x32_keyctl"
] as const
const ALLOWED = ["getpid", "fork", "socket_inet", "i386_getpid"] as const

const expectConfined = (r: Record<string, unknown>) => {
  assert.strictEqual(r["Seccomp"], "2", JSON.stringify(r))
  for (const c of FORBIDDEN) assert.strictEqual(r[c], "EPERM", `${c}: ${JSON.stringify(r)}`)
  for (const c of ALLOWED) assert.strictEqual(r[c], "ok", `${c}: ${JSON.stringify(r)}`)
}

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("seccomp (live, root)", (it) => {
  it.scoped("the default filter holds in the workload and in an exec'd process", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const { json } = yield* runJson(rootfs, "sc-wl", ["/probe/syscalls"])
      expectConfined(json)
      const { name } = yield* startSleeper(rootfs, "sc-ex")
      expectConfined(yield* execJson(name, ["/probe/syscalls"]))
    }))

  it.scoped("ordinary programs work under it: busybox applets, the httpd fixture served on localhost", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const rootfs = yield* probeRootfs
      const script = [
        "set -e",
        "mkdir -p /tmp/a/b && echo hi > /tmp/a/b/f && cat /tmp/a/b/f",
        "ls -la / > /dev/null && ps > /dev/null && df > /dev/null && date > /dev/null",
        "sort < /etc/passwd | head -1 | cut -d: -f1",
        "(sleep 0.1 & wait) && echo bg-ok",
        "tar -C /tmp -cf /tmp/x.tar a && tar -tf /tmp/x.tar | wc -l",
        "chown 1000 /tmp/a && chmod 700 /tmp/a && echo perms-ok",
        "nice -n 5 true && echo nice-ok"
      ].join("; ")
      const { exit } = yield* runJson(rootfs, "sc-bb", ["sh", "-c", `${script}; echo '{"done":true}'`])
      assert.deepStrictEqual(exit, { _tag: "Exited", code: 0 })
      const name = podName("sc-httpd")
      yield* startPod({ name, restart: "never", containers: [{ name: "app", image: env.refs.busyboxHttpd }] })
      const got = yield* onMachine(
        execCapture(name, [
          "sh",
          "-c",
          "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 0.2; done; exit 1"
        ])
      )
      assert.strictEqual(got.stdout, "hello from tank httpd\n", JSON.stringify(got))
    }))

  it.scoped("seccomp: unconfined runs without a filter (the probe can tell the difference)", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const { name } = yield* startSleeper(rootfs, "sc-unc", { seccomp: "unconfined" })
      const r = yield* execJson(name, ["/probe/syscalls", "keyctl", "bpf"])
      assert.strictEqual(r["Seccomp"], "0")
      assert.notStrictEqual(r["keyctl"], "EPERM")
    }))

  it.scoped("a user profile that allows what the default forbids takes effect (docker format)", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const dir = yield* tmpDir("tank-sec-profile-")
      const file = path.join(dir, "keys.json")
      fs.writeFileSync(
        file,
        JSON.stringify({
          ...DEFAULT_PROFILE,
          syscalls: [...DEFAULT_PROFILE.syscalls ?? [], { names: ["keyctl", "add_key"], action: "SCMP_ACT_ALLOW" }]
        })
      )
      const { name } = yield* startSleeper(rootfs, "sc-usr", { seccomp: { profile: file } })
      const r = yield* execJson(name, ["/probe/syscalls", "keyctl", "add_key", "bpf", "unshare_user"])
      assert.strictEqual(r["Seccomp"], "2")
      assert.strictEqual(r["keyctl"], "ok", JSON.stringify(r))
      assert.strictEqual(r["add_key"], "ok", JSON.stringify(r))
      assert.strictEqual(r["bpf"], "EPERM")
      assert.strictEqual(r["unshare_user"], "EPERM")
    }))

  it.scoped("an OCI-format deny-list profile: the denied call fails with its errnoRet, the rest works", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const dir = yield* tmpDir("tank-sec-profile-")
      const file = path.join(dir, "nomkdir.json")
      fs.writeFileSync(
        file,
        JSON.stringify({
          defaultAction: "SCMP_ACT_ALLOW",
          architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
          syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }]
        })
      )
      const { name } = yield* startSleeper(rootfs, "sc-oci", { seccomp: { profile: file } })
      const r = yield* onMachine(
        execCapture(name, ["sh", "-c", "mkdir /tmp/nope; echo rc=$?; touch /tmp/yes && echo touched"])
      )
      assert.match(r.stderr, /Permission denied/)
      assert.match(r.stdout, /rc=1\ntouched/)
      const k = yield* execJson(name, ["/probe/syscalls", "keyctl"])
      assert.strictEqual(k["keyctl"], "ok") // allowed by default here
    }))

  it.scoped("capabilities.add SYS_ADMIN lifts the calls docker ties to it (mount, unshare) and no others", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const { name } = yield* startSleeper(rootfs, "sc-cap", { capabilities: { add: ["SYS_ADMIN"] } })
      const r = yield* execJson(name, ["/probe/syscalls", "mount", "unshare_net", "keyctl", "kexec_load"])
      assert.strictEqual(r["mount"], "ok", JSON.stringify(r))
      assert.strictEqual(r["unshare_net"], "ok", JSON.stringify(r))
      assert.strictEqual(r["keyctl"], "EPERM")
      assert.strictEqual(r["kexec_load"], "EPERM")
    }))

  it.scoped("a broken profile fails the start, naming the field and the problem; nothing is left", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const dir = yield* tmpDir("tank-sec-profile-")
      const file = path.join(dir, "bad.json")
      fs.writeFileSync(
        file,
        JSON.stringify({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_BOGUS" }] })
      )
      const exit = yield* Effect.exit(startSleeper(rootfs, "sc-bad", { seccomp: { profile: file } }))
      assert.isTrue(Exit.isFailure(exit))
      const text = JSON.stringify(exit)
      assert.match(text, /containers\[0\]\.seccomp\.profile/)
      assert.match(text, /syscalls/)
      const missing = yield* Effect.exit(
        startSleeper(rootfs, "sc-missing", { seccomp: { profile: "/nonexistent/p.json" } })
      )
      assert.match(JSON.stringify(missing), /ENOENT/)
    }))
})
