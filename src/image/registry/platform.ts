/**
 * Platform selection in an OCI index / Docker manifest list, as containerd's platform matcher does:
 * os and architecture must match; `arm64` means variant v8 when none is given, `arm` means v7.
 * An exact variant match is preferred over an entry without a variant. Pure.
 */
import type { Descriptor } from "./oci.js"

export interface PlatformSpec {
  readonly os: string
  readonly architecture: string
  readonly variant?: string | undefined
}

const ARCH: Record<string, string> = {
  x64: "amd64",
  ia32: "386",
  arm64: "arm64",
  arm: "arm",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  mips64el: "mips64le",
  loong64: "loong64"
}

/** The platform of this Node process (`process.arch` mapped to OCI names). */
export const hostPlatform = (arch: string = process.arch): PlatformSpec => {
  const architecture = ARCH[arch] ?? arch
  if (architecture === "arm64") return { os: "linux", architecture, variant: "v8" }
  if (architecture === "arm") {
    const v = (process.config.variables as Record<string, unknown>)["arm_version"]
    return { os: "linux", architecture, variant: typeof v === "string" || typeof v === "number" ? `v${v}` : "v7" }
  }
  return { os: "linux", architecture }
}

/** Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`. */
export const parsePlatform = (s: string): PlatformSpec | undefined => {
  const parts = s.split("/")
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) return undefined
  const [os, architecture, variant] = parts as [string, string, string | undefined]
  return variant === undefined ? { os, architecture } : { os, architecture, variant }
}

export const formatPlatform = (p: PlatformSpec): string =>
  `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`

const defaultVariant = (architecture: string): string | undefined =>
  architecture === "arm64" ? "v8" : architecture === "arm" ? "v7" : undefined

const ALIASES: Record<string, string> = { x86_64: "amd64", aarch64: "arm64", armhf: "arm", i386: "386" }

/** `aarch64` → `arm64`, arm64 without variant → v8, arm → v7: the form records are keyed by. */
export const normalizePlatform = (p: PlatformSpec): PlatformSpec => {
  const architecture = ALIASES[p.architecture] ?? p.architecture
  return { os: p.os, architecture, variant: p.variant || defaultVariant(architecture) }
}

/** Picks the manifest for `want`; `undefined` when nothing fits. */
export const selectPlatform = (
  manifests: ReadonlyArray<Descriptor>,
  want: PlatformSpec
): Descriptor | undefined => {
  const w = normalizePlatform(want)
  let fallback: Descriptor | undefined
  for (const m of manifests) {
    if (!m.platform) continue
    const p = normalizePlatform(m.platform)
    if (p.os !== w.os || p.architecture !== w.architecture) continue
    if (p.variant === w.variant) return m
    // An entry without a variant is a fair match when we want a specific one (and vice versa).
    if (fallback === undefined && (m.platform.variant === undefined || want.variant === undefined)) fallback = m
  }
  return fallback
}

/** The platforms an index offers, for error messages (attestation entries `unknown/unknown` left out). */
export const listPlatforms = (manifests: ReadonlyArray<Descriptor>): Array<string> =>
  manifests.flatMap((m) => m.platform && m.platform.os !== "unknown" ? [formatPlatform(m.platform)] : [])
