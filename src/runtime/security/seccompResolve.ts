/**
 * A docker-format seccomp profile resolved for one container on this host (pure): its conditional
 * rules kept or dropped by the container's capabilities, the host architecture and kernel, and its
 * `archMap` turned into the ABIs to filter. The result is the OCI runtime spec's `linux.seccomp`,
 * which the native helper compiles (`tank-helper seccomp-compile`). Docker does the same resolution
 * before handing the profile to runc (moby `profiles/seccomp`, setupSeccomp).
 */
import type { SeccompAction, SeccompArg, SeccompProfile, SeccompRule } from "./seccompProfile.js"

export interface OciSeccompRule {
  readonly names: ReadonlyArray<string>
  readonly action: SeccompAction
  readonly errnoRet?: number
  readonly args?: ReadonlyArray<SeccompArg>
}

export interface OciSeccomp {
  readonly defaultAction: SeccompAction
  readonly defaultErrnoRet?: number
  readonly architectures: ReadonlyArray<string>
  readonly syscalls: ReadonlyArray<OciSeccompRule>
}

export interface HostFacts {
  /** Node's `process.arch` ("x64", "arm64", ...). */
  readonly arch: string
  /** `os.release()`, e.g. "6.18.44". */
  readonly kernel: string
}

/** Node's arch → (docker's Go arch name, libseccomp's native arch). */
const ARCHES: Record<string, { go: string; scmp: string }> = {
  x64: { go: "amd64", scmp: "SCMP_ARCH_X86_64" },
  arm64: { go: "arm64", scmp: "SCMP_ARCH_AARCH64" },
  arm: { go: "arm", scmp: "SCMP_ARCH_ARM" },
  ia32: { go: "386", scmp: "SCMP_ARCH_X86" },
  s390x: { go: "s390x", scmp: "SCMP_ARCH_S390X" },
  riscv64: { go: "riscv64", scmp: "SCMP_ARCH_RISCV64" },
  ppc64: { go: "ppc64le", scmp: "SCMP_ARCH_PPC64LE" }
}

const kernelAtLeast = (kernel: string, min: string): boolean => {
  const [a = 0, b = 0] = kernel.split(/[.-]/).map(Number)
  const [x = 0, y = 0] = min.split(".").map(Number)
  return a > x || (a === x && b >= y)
}

/** A docker rule applies when every included capability is held, the arch listed, the kernel new enough. */
const applies = (rule: SeccompRule, caps: ReadonlySet<string>, goArch: string, kernel: string): boolean => {
  const ex = rule.excludes
  if (ex?.caps?.some((c) => caps.has(c))) return false
  if (ex?.arches?.includes(goArch)) return false
  const inc = rule.includes
  if (inc?.caps && !inc.caps.every((c) => caps.has(c))) return false
  if (inc?.arches && !inc.arches.includes(goArch)) return false
  if (inc?.minKernel && !kernelAtLeast(kernel, inc.minKernel)) return false
  return true
}

/**
 * Resolve `profile` for a container holding `capabilities` (CAP_ names, its bounding set) on `host`.
 */
export const resolveProfile = (
  profile: SeccompProfile,
  capabilities: ReadonlyArray<string>,
  host: HostFacts
): OciSeccomp => {
  const arch = ARCHES[host.arch] ?? { go: host.arch, scmp: "" }
  const caps = new Set(capabilities)
  const mapped = profile.archMap?.find((m) => m.architecture === arch.scmp)
  const architectures = profile.archMap
    ? mapped ? [mapped.architecture, ...(mapped.subArchitectures ?? [])] : []
    : [...(profile.architectures ?? [])]
  const syscalls = (profile.syscalls ?? [])
    .filter((r) => applies(r, caps, arch.go, host.kernel))
    .map((r): OciSeccompRule => ({
      names: r.names ?? (r.name !== undefined ? [r.name] : []),
      action: r.action,
      ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}),
      ...(r.args && r.args.length > 0 ? { args: r.args } : {})
    }))
    .filter((r) => r.names.length > 0)
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures,
    syscalls
  }
}
