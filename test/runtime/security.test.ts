/**
 * How a container's security settings are resolved (pure): capabilities from docker's set with
 * drop/add, docker-format seccomp profiles resolved for the container's capabilities, arch and
 * kernel, rlimit defaults capped by the agent's own hard limits, CPU lists for the thermal masks.
 */
import { assert, describe, it } from "@effect/vitest"
import { DEFAULT_CAPABILITIES, maskedHostPaths, parseCpuList } from "../../src/runtime/helper/defaults.js"
import { containerCapabilities } from "../../src/runtime/security/capabilities.js"
import { majorOf, minorOf } from "../../src/runtime/security/devices.js"
import { containerRlimits, parseHardLimits } from "../../src/runtime/security/rlimits.js"
import { DEFAULT_PROFILE } from "../../src/runtime/security/seccompProfile.js"
import { resolveProfile } from "../../src/runtime/security/seccompResolve.js"

const X64 = { arch: "x64", kernel: "6.18.44" }
const allowed = (p: ReturnType<typeof resolveProfile>) =>
  new Set(p.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW" && !r.args).flatMap((r) => r.names))

describe("capabilities", () => {
  it("docker's set, then drop, then add; ALL both ways; bit order", () => {
    assert.deepStrictEqual(
      containerCapabilities(undefined),
      [...DEFAULT_CAPABILITIES].sort((a, b) =>
        containerCapabilities({ add: ["ALL"], drop: [] }).indexOf(a) -
        containerCapabilities({ add: ["ALL"], drop: [] }).indexOf(b)
      )
    )
    const c = containerCapabilities({ add: ["NET_ADMIN"], drop: ["NET_RAW", "MKNOD"] })
    assert.include(c, "CAP_NET_ADMIN")
    assert.notInclude(c, "CAP_NET_RAW")
    assert.notInclude(c, "CAP_MKNOD")
    assert.strictEqual(c.length, DEFAULT_CAPABILITIES.length - 1)
    assert.deepStrictEqual(containerCapabilities({ add: ["KILL"], drop: ["ALL"] }), ["CAP_KILL"])
    assert.strictEqual(containerCapabilities({ add: ["ALL"], drop: [] }).length, 41)
    assert.deepStrictEqual(containerCapabilities({ add: [], drop: ["ALL"] }), [])
  })
})

describe("seccomp profile resolution", () => {
  it("docker's default on x86_64: three ABIs, the allow-list, conditional rules by capability", () => {
    const p = resolveProfile(DEFAULT_PROFILE, DEFAULT_CAPABILITIES, X64)
    assert.deepStrictEqual(p.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    assert.strictEqual(p.defaultAction, "SCMP_ACT_ERRNO")
    assert.strictEqual(p.defaultErrnoRet, 1)
    const a = allowed(p)
    for (const ok of ["read", "execve", "arch_prctl", "modify_ldt", "chroot", "ptrace"]) assert.isTrue(a.has(ok), ok)
    for (const no of ["keyctl", "add_key", "bpf", "mount", "unshare", "setns", "kexec_load", "userfaultfd", "reboot"]) {
      assert.isFalse(a.has(no), no)
    }
    // clone only without namespace flags; clone3 ENOSYS (no CAP_SYS_ADMIN)
    const clone = p.syscalls.filter((r) => r.names.includes("clone"))
    assert.deepStrictEqual(clone.map((r) => r.args), [[{
      index: 0,
      value: 0x7e020000,
      valueTwo: 0,
      op: "SCMP_CMP_MASKED_EQ"
    }]])
    assert.deepStrictEqual(p.syscalls.find((r) => r.names.includes("clone3")), {
      names: ["clone3"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: 38
    })
    // s390 and arm rules are not for this host
    assert.isFalse(a.has("s390_runtime_instr"))
    assert.isFalse(a.has("set_tls"))
  })

  it("with CAP_SYS_ADMIN: mount, unshare, setns, bpf allowed; clone unrestricted; no clone3 ENOSYS", () => {
    const p = resolveProfile(DEFAULT_PROFILE, [...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"], X64)
    const a = allowed(p)
    for (const ok of ["mount", "umount2", "unshare", "setns", "bpf", "clone", "clone3"]) assert.isTrue(a.has(ok), ok)
    assert.isUndefined(p.syscalls.find((r) => r.action === "SCMP_ACT_ERRNO"))
    // dropping SYS_CHROOT drops chroot; adding SYS_TIME adds settimeofday
    const q = allowed(
      resolveProfile(DEFAULT_PROFILE, [
        ...DEFAULT_CAPABILITIES.filter((c) => c !== "CAP_SYS_CHROOT"),
        "CAP_SYS_TIME"
      ], X64)
    )
    assert.isFalse(q.has("chroot"))
    assert.isTrue(q.has("settimeofday"))
  })

  it("minKernel and arches conditions; the OCI form passes through; a single `name` is a rule", () => {
    const old = allowed(resolveProfile(DEFAULT_PROFILE, DEFAULT_CAPABILITIES, { arch: "x64", kernel: "4.4.0" }))
    assert.isFalse(old.has("ptrace"))
    const arm = resolveProfile(DEFAULT_PROFILE, DEFAULT_CAPABILITIES, { arch: "arm64", kernel: "6.1" })
    assert.deepStrictEqual(arm.architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    assert.isTrue(allowed(arm).has("set_tls"))
    assert.isFalse(allowed(arm).has("arch_prctl"))
    const oci = resolveProfile(
      {
        defaultAction: "SCMP_ACT_ALLOW",
        architectures: ["SCMP_ARCH_X86_64"],
        syscalls: [{ name: "mkdir", action: "SCMP_ACT_ERRNO", errnoRet: 13 }]
      },
      [],
      X64
    )
    assert.deepStrictEqual(oci, {
      defaultAction: "SCMP_ACT_ALLOW",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }]
    })
  })
})

describe("rlimits", () => {
  const limits = [
    "Limit                     Soft Limit           Hard Limit           Units     ",
    "Max cpu time              unlimited            unlimited            seconds   ",
    "Max processes             96365                96365                processes ",
    "Max open files            20000                20000                files     ",
    "Max core file size        0                    unlimited            bytes     "
  ].join("\n")

  it("reads the hard limits of /proc/self/limits", () => {
    assert.deepStrictEqual(parseHardLimits(limits), { cpu: Infinity, nproc: 96365, nofile: 20000, core: Infinity })
  })

  it("nofile 1024:524288 by default, capped by the agent's hard limit; the spec's win", () => {
    assert.deepStrictEqual(containerRlimits(undefined, {}), [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 524288 }])
    assert.deepStrictEqual(containerRlimits(undefined, { nofile: 20000 }), [{
      type: "RLIMIT_NOFILE",
      soft: 1024,
      hard: 20000
    }])
    assert.deepStrictEqual(containerRlimits(undefined, { nofile: 512 }), [{
      type: "RLIMIT_NOFILE",
      soft: 512,
      hard: 512
    }])
    assert.deepStrictEqual(
      containerRlimits({ nofile: { soft: 10, hard: 20 }, core: { soft: "unlimited", hard: "unlimited" } }, {
        nofile: 20000
      }),
      [{ type: "RLIMIT_NOFILE", soft: 10, hard: 20 }, { type: "RLIMIT_CORE", soft: -1, hard: -1 }]
    )
  })
})

describe("host facts", () => {
  it("CPU lists and the per-CPU thermal masks", () => {
    assert.deepStrictEqual(parseCpuList("0-3,5,7-8\n"), [0, 1, 2, 3, 5, 7, 8])
    assert.deepStrictEqual(parseCpuList(""), [])
    assert.deepStrictEqual(maskedHostPaths([0, 1]), [
      "/sys/devices/system/cpu/cpu0/thermal_throttle",
      "/sys/devices/system/cpu/cpu1/thermal_throttle"
    ])
  })

  it("dev_t split as glibc does it", () => {
    // makedev(259, 65537) = ((major & 0xfffff000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffffff00) << 12) | (minor & 0xff)
    const rdev = Number((BigInt(259 & 0xfff) << 8n) | (BigInt(65537 & ~0xff) << 12n) | BigInt(65537 & 0xff))
    assert.strictEqual(majorOf(rdev), 259)
    assert.strictEqual(minorOf(rdev), 65537)
    assert.strictEqual(majorOf(0x0703), 7)
    assert.strictEqual(minorOf(0x0703), 3)
  })
})
