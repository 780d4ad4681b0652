/**
 * Which host directories a pod may mount (`volumes[].source.host`). Refused: `/`, Tank's data dir,
 * anything inside it, any directory above it, and any directory holding the SQLite store file. Any
 * of those would hand a pod the store (every spec and its env), the image cache (other images'
 * files), other pods' volumes, run dirs and monitor sockets.
 *
 * The agent's config may list exceptions in `allowedHostPaths`. Each entry allows exactly that path:
 * not its subdirectories and not its parents, so one entry never opens more than it names.
 *
 * Checked twice: when a pod is applied (against the applying client's config, on the path as
 * written) and when the agent brings the pod up (against the agent's config, on the path with its
 * symlinks resolved, so `/tmp/link -> /var/lib/tank` is caught; the resolved path is what gets
 * mounted).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { Pod } from "../spec/Pod.js"

export interface HostPathPolicy {
  readonly dataDir: string
  /** The SQLite store file; absent with etcd. */
  readonly storeFile: string | undefined
  readonly allowed: ReadonlyArray<string>
}

export const hostPathPolicy = (
  c: {
    readonly dataDir: string
    readonly storeFile: string
    readonly etcd: unknown
    readonly allowedHostPaths: ReadonlyArray<string>
  }
): HostPathPolicy => ({
  dataDir: path.resolve(c.dataDir),
  storeFile: c.etcd === undefined ? path.resolve(c.storeFile) : undefined,
  allowed: c.allowedHostPaths.map((p) => path.resolve(p))
})

const within = (p: string, dir: string) => dir === "/" || p.startsWith(`${dir}/`)

const ALLOW_HINT = (p: string) =>
  `; to allow it anyway, list "${p}" in allowedHostPaths in the agent's config (each entry allows exactly that path)`

/**
 * Why a pod must not mount `p` (absolute), or undefined when it may. Pure: `dataDirs`/`storeFiles`
 * are the protected paths, as configured and (at bring-up) with their symlinks resolved.
 */
export const hostPathProblem = (
  p: string,
  dataDirs: ReadonlyArray<string>,
  storeFiles: ReadonlyArray<string>
): string | undefined => {
  const at = path.resolve(p)
  const [shown] = dataDirs
  if (at === "/") return `"/" is the host's root directory, which holds Tank's data dir (${shown})`
  for (const d of dataDirs) {
    if (at === d) return `"${at}" is Tank's data dir (its store, image cache, and other pods' volumes and run dirs)`
    if (within(at, d)) return `"${at}" is inside Tank's data dir (${d})`
    if (within(d, at)) return `"${at}" contains Tank's data dir (${d})`
  }
  for (const f of storeFiles) {
    if (at === f) return `"${at}" is Tank's store file`
    if (within(f, at)) return `"${at}" contains Tank's store file (${f})`
  }
  return undefined
}

/** Apply-time check (the path as written, the client's config): one message per refused volume. */
export const hostPathIssues = (
  pod: Pod,
  policy: HostPathPolicy
): ReadonlyArray<{ readonly path: string; readonly message: string }> =>
  pod.volumes.flatMap((v, i) => {
    if (v.source === "managed" || !("host" in v.source)) return []
    const p = path.resolve(v.source.host)
    if (policy.allowed.includes(p)) return []
    const problem = hostPathProblem(p, [policy.dataDir], policy.storeFile ? [policy.storeFile] : [])
    return problem ? [{ path: `volumes[${i}].source.host`, message: problem + ALLOW_HINT(p) }] : []
  })

const realOr = (p: string) => {
  try {
    return fs.realpathSync.native(p)
  } catch {
    return p
  }
}

const both = (p: string) => [...new Set([p, realOr(p)])]

/**
 * Bring-up check on the host (the agent's config): resolves `host` (it must exist as a directory)
 * and returns the resolved path to mount, or throws an Error naming the volume and the problem.
 */
export const resolveHostPath = (volume: string, host: string, policy: HostPathPolicy): string => {
  const real = fs.realpathSync.native(host)
  if (!fs.statSync(real).isDirectory()) throw new Error(`volume "${volume}": host path ${host} is not a directory`)
  if (policy.allowed.some((a) => both(a).includes(real))) return real
  const dataDirs = both(policy.dataDir)
  const storeFiles = policy.storeFile ? both(policy.storeFile) : []
  const problem = hostPathProblem(host, dataDirs, storeFiles) ?? hostPathProblem(real, dataDirs, storeFiles)
  if (problem === undefined) return real
  const resolved = real === path.resolve(host) ? "" : ` (resolves to "${real}")`
  throw new Error(`volume "${volume}": host path "${host}"${resolved} refused: ${problem}${ALLOW_HINT(real)}`)
}
