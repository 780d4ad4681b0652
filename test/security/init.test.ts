/**
 * `init: true`, attacked from inside real pods (root): tank-init, PID 1 of the container, is no
 * softer target than the workload. The workload reads PID 1's /proc files (it may: same ids, same
 * capabilities) and finds exactly its own ids, capability sets, no_new_privs and seccomp filter, no
 * descriptor beyond stdio, its own environment, and nothing of the host's helper in its memory map;
 * as root and as a non-root user; a child that exits is reaped. The control (the workload drops to
 * another user under a root init) shows the probe sees a difference when there is one.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { libc } from "../../src/host/libc.js"
import { tmpDir } from "../support/tmp.js"
import { MachineLive, probeRootfs, runJson, startSleeper } from "./support.js"

const F_SETFD = 2

/** The status lines that say what a process may do. */
const FIELDS = "Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters"

/**
 * Prints one JSON line: PID 1's privileges and this shell's (as `grep` reads them), PID 1's open
 * descriptors, whether its environment is ours, its name, and which files it maps.
 */
const probe = [
  `st() { grep -E '^(${FIELDS}):' "$1" | tr -s '\\t ' ' ' | tr '\\n' ';'; }`,
  "one=$(st /proc/1/status)",
  "me=$(st /proc/$$/status)",
  "fds=$(ls /proc/1/fd | sort -n | tr '\\n' ' ')",
  "env1=$(tr '\\0' '\\n' < /proc/1/environ | sort | md5sum | cut -c1-8)",
  "envme=$(tr '\\0' '\\n' < /proc/$$/environ | grep -v '^_=' | sort | md5sum | cut -c1-8)",
  "maps=$(awk '{print $6}' /proc/1/maps | sort -u | tr '\\n' ' ')",
  // A child that exits at once: under init it is reaped, never a zombie.
  "(true &); sleep 0.3",
  "z=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)",
  `echo "{\\"one\\":\\"$one\\",\\"me\\":\\"$me\\",\\"fds\\":\\"$fds\\",\\"env1\\":\\"$env1\\",\\"envme\\":\\"$envme\\",` +
  `\\"comm\\":\\"$(cat /proc/1/comm)\\",\\"maps\\":\\"$maps\\",\\"zombies\\":$z}"`
].join("; ")

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("init: true (live, root)", (it) => {
  for (const user of ["0:0", "1000:1000"]) {
    it.scoped(`tank-init has exactly the workload's ids, capabilities, no_new_privs, seccomp and stdio (user ${user})`, () =>
      Effect.gen(function*() {
        const rootfs = yield* probeRootfs
        const { exit, json } = yield* runJson(rootfs, "in-init", ["sh", "-c", probe], { user }, { init: true })
        assert.deepStrictEqual(exit, { _tag: "Exited", code: 0 })
        assert.strictEqual(json["comm"], "tank-init")
        assert.strictEqual(json["one"], json["me"], "PID 1 runs under the workload's restrictions")
        assert.include(String(json["one"]), "NoNewPrivs: 1;")
        assert.include(String(json["one"]), "Seccomp: 2;")
        assert.strictEqual(json["fds"], "0 1 2 ", "PID 1 holds the workload's stdio and nothing else")
        assert.strictEqual(json["env1"], json["envme"], "PID 1's environment is the workload's")
        // Statically linked, from a descriptor: no loader, no libc, no helper mapped in PID 1.
        assert.notMatch(String(json["maps"]), /ld-linux|\/libc[.-]|tank-helper/)
        assert.strictEqual(json["zombies"], 0)
      }))
  }

  it.scoped("no descriptor of the agent's process reaches a workload or its init (one leaked on purpose)", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      // The attack: the agent holds a descriptor without close-on-exec (inherited from whoever
      // started it), here onto a file standing for something secret.
      const dir = yield* tmpDir("tank-sec-fd-")
      const secret = path.join(dir, "secret")
      fs.writeFileSync(secret, "host secret\n", { mode: 0o600 })
      const fd = yield* Effect.acquireRelease(
        Effect.sync(() => fs.openSync(secret, "r")),
        (fd) => Effect.sync(() => fs.closeSync(fd))
      )
      assert.strictEqual(libc.fcntl(fd, F_SETFD, "int", 0), 0)
      // Seen from the host: the descriptors of PID 1 (sleep, or tank-init) and of its children.
      for (const init of [false, true]) {
        const { h } = yield* startSleeper(rootfs, "in-fd", { command: ["sleep", "600"] }, { init })
        const children = () =>
          fs.readFileSync(`/proc/${h.hostPid}/task/${h.hostPid}/children`, "utf8").trim().split(/\s+/).filter(
            Boolean
          ).map(Number)
        // tank-init forks the workload just after it runs: give it a moment under load.
        for (let i = 0; i < 100 && init && children().length === 0; i++) yield* Effect.sleep("20 millis")
        const pids = [h.hostPid, ...children()]
        assert.strictEqual(pids.length, init ? 2 : 1)
        for (const pid of pids) {
          const fds = fs.readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b)
          assert.deepStrictEqual(fds, [0, 1, 2], `init ${init}, pid ${pid}`)
        }
      }
    }))

  it.scoped("control: the probe sees it when PID 1 differs (the workload drops to user tank under a root init)", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const argv = ["su", "-s", "/bin/sh", "tank", "-c", probe]
      const { json } = yield* runJson(rootfs, "in-drop", argv, { user: "0:0" }, { init: true })
      assert.strictEqual(json["comm"], "tank-init")
      assert.notStrictEqual(json["one"], json["me"])
      assert.include(String(json["me"]), "Uid: 1000 1000 1000 1000;")
      assert.include(String(json["one"]), "Uid: 0 0 0 0;")
    }))
})
