/**
 * Probe programs for security tests: small C sources in `test/support/probes/<name>.c`, compiled
 * statically (no loader or libc needed inside a container or a qemu initramfs) into a cache dir
 * keyed by the source's hash, so every test file and every run reuses one binary. A probe prints
 * what the kernel answered (errno names, not guesses), so a test asserts on the syscall's own verdict
 * rather than on a shell's interpretation of it.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const sources = path.join(path.dirname(fileURLToPath(import.meta.url)), "probes")
/** Inside the checkout (`.tmp/` is git-ignored), so no run leaves anything outside it. */
const cache = path.join(sources, "..", "..", "..", ".tmp", "probes")

/** Path of the static binary for probe `name` (compiled on first use; gcc and libc.a from libc6-dev). */
export const probe = (name: string): string => {
  const src = path.join(sources, `${name}.c`)
  const text = fs.readFileSync(src)
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 16)
  const out = path.join(cache, `${name}-${hash}`)
  if (fs.existsSync(out)) return out
  fs.mkdirSync(cache, { recursive: true, mode: 0o700 })
  // Built beside, then renamed: test files running in parallel never see a half-written binary.
  const tmp = `${out}.${process.pid}.tmp`
  execFileSync("gcc", ["-static", "-O2", "-Wall", "-Werror", "-o", tmp, src], { stdio: "pipe" })
  fs.renameSync(tmp, out)
  return out
}

/** Copy probe `name` into a rootfs dir (as `/probe/<name>`, 0755) and return its path inside. */
export const installProbe = (rootfs: string, name: string): string => {
  const dir = path.join(rootfs, "probe")
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 })
  fs.copyFileSync(probe(name), path.join(dir, name))
  fs.chmodSync(path.join(dir, name), 0o755)
  return `/probe/${name}`
}
