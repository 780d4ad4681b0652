/**
 * e2e (root): default hardening as documented in native/PROTOCOL.md §9: docker's capability list,
 * masked and read-only /proc paths, read-only /sys, no_new_privs, only the standard /dev nodes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { DEFAULT_CAPABILITIES } from "../../src/runtime/helper/defaults.js"
import { runToExit } from "./harness.js"
import { busyboxRootfs } from "./rootfs.js"

const CAP_NUMBERS: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_RAW: 13,
  CAP_SYS_CHROOT: 18,
  CAP_MKNOD: 27,
  CAP_AUDIT_WRITE: 29,
  CAP_SETFCAP: 31
}

const mask = (caps: ReadonlyArray<string>) =>
  caps.reduce((m, c) => m | (1n << BigInt(CAP_NUMBERS[c]!)), 0n).toString(16).padStart(16, "0")

const status = (stdout: string, key: string) => new RegExp(`^${key}:\\s+(\\S+)$`, "m").exec(stdout)?.[1]

describe("Hardening", () => {
  it.scopedLive("Hardening_caps_rootHasDockerDefaultSet", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const r = yield* runToExit(lower, { argv: ["cat", "/proc/self/status"] })
      const expected = mask(DEFAULT_CAPABILITIES)
      expect(expected).toBe("00000000a80425fb") // docker's well-known default
      expect(status(r.stdout, "CapBnd")).toBe(expected)
      expect(status(r.stdout, "CapEff")).toBe(expected)
      expect(status(r.stdout, "CapPrm")).toBe(expected)
      expect(status(r.stdout, "CapInh")).toBe("0000000000000000")
      expect(status(r.stdout, "CapAmb")).toBe("0000000000000000")
      expect(status(r.stdout, "NoNewPrivs")).toBe("1")
    }))

  it.scopedLive("Hardening_caps_nonRootHasNoEffective", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const { capabilitiesFor } = yield* Effect.promise(() => import("../../src/runtime/helper/defaults.js"))
      const r = yield* runToExit(lower, {
        argv: ["cat", "/proc/self/status"],
        uid: 1000,
        gid: 1000,
        capabilities: capabilitiesFor(1000)
      })
      expect(status(r.stdout, "CapBnd")).toBe(mask(DEFAULT_CAPABILITIES))
      expect(status(r.stdout, "CapEff")).toBe("0000000000000000")
      expect(status(r.stdout, "CapPrm")).toBe("0000000000000000")
    }))

  it.scopedLive("Hardening_masked_and_readonly_paths", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const script = [
        // This kernel has no /proc/kcore; masking skips missing paths. timer_list and keys exist.
        "echo keys=$(cat /proc/keys | wc -c)",
        "echo timer_list=$(cat /proc/timer_list | wc -c) host_has_it=$(ls /proc/timer_list)",
        "echo masks_mounted=$(grep -cE ' /proc/(keys|timer_list|acpi) ' /proc/self/mountinfo)",
        "echo firmware=$(ls -A /sys/firmware | wc -l)",
        "(echo evil > /proc/sys/kernel/hostname) 2>/dev/null && echo sysw=yes || echo sysw=no",
        "(echo h > /proc/sysrq-trigger) 2>/dev/null && echo sysrq=yes || echo sysrq=no",
        "(touch /sys/kernel/x) 2>/dev/null && echo sysfs=rw || echo sysfs=ro",
        "echo dev=$(ls /dev | tr '\\n' ' ')",
        "hostname"
      ].join("; ")
      const r = yield* runToExit(lower, { argv: ["sh", "-c", script] })
      expect(r.stdout.split("\n")).toEqual([
        "keys=0",
        "timer_list=0 host_has_it=/proc/timer_list",
        "masks_mounted=3",
        "firmware=0",
        "sysw=no",
        "sysrq=no",
        "sysfs=ro",
        "dev=fd full null ptmx pts random shm stderr stdin stdout tty urandom zero",
        "tank-test",
        ""
      ])
    }))
})
