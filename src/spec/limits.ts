/**
 * Size limits a pod spec is held to at apply, so that what is accepted can be stored, read back and
 * started. Pure; no effects.
 *
 * - The whole spec: MAX_SPEC_BYTES as JSON (after YAML alias expansion: aliases are references, so
 *   a small file can stand for a huge spec). The Store reads no record larger than this.
 * - Fixed-size kernel buffers: one execve argument or environment string (MAX_ARG_STRLEN), a path
 *   (PATH_MAX) and each of its components (NAME_MAX), uid/gid.
 * - The native monitor reads its config file (argv, env, mounts, ...) up to 1 MiB
 *   (native/src/config.c): a container's own part of it is held to MONITOR_BUDGET_BYTES, which leaves
 *   room for what the image adds (its Env, Entrypoint, Cmd) and the agent's own paths.
 */

/** Largest spec, as JSON. The Store's MAX_RECORD_BYTES is this same number. */
export const MAX_SPEC_BYTES = 1 << 20

/** Linux: one argv/envp string including its NUL (32 pages); longer ones fail execve with E2BIG. */
export const MAX_ARG_STRLEN = 131072

/** Linux: a path including its NUL. */
export const PATH_MAX = 4096

/** Linux: one path component (a file name). */
export const NAME_MAX = 255

/** Largest uid/gid: uid_t is 32 bits and (uid_t)-1 means "unchanged". */
export const MAX_ID = 0xfffffffe

/** The monitor's config file limit (native/src/config.c `read_file(path, 1 << 20)`). */
export const MONITOR_CONFIG_BYTES = 1 << 20

/** A container's share of the monitor config: half, the rest is the image's and the agent's. */
export const MONITOR_BUDGET_BYTES = MONITOR_CONFIG_BYTES / 2

export const utf8Bytes = (s: string): number => Buffer.byteLength(s, "utf8")

/** JSON-encoded size of a string, quotes and escapes included (what a config file spends on it). */
export const jsonStringBytes = (s: string): number => utf8Bytes(JSON.stringify(s))

/**
 * The size of `value` as JSON if it is at most `limit` bytes, else undefined. Walks the value and
 * stops as soon as the count passes the limit, so a huge value (aliases expanded, a cycle) costs
 * at most `limit` worth of work and never gets serialized. Strings are counted without escapes (a
 * lower bound, exact for plain text): the caller checks the stored encoding again afterwards.
 */
export const jsonBytesWithin = (value: unknown, limit: number): number | undefined => {
  let total = 0
  const stack: Array<unknown> = [value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v === "string") total += utf8Bytes(v) + 2
    else if (typeof v === "number" || typeof v === "bigint") total += String(v).length
    else if (typeof v === "boolean") total += v ? 4 : 5
    else if (v === null || v === undefined) total += 4
    else if (Array.isArray(v)) {
      total += 2 + Math.max(0, v.length - 1)
      for (let i = v.length - 1; i >= 0 && total <= limit; i--) stack.push(v[i])
    } else if (typeof v === "object") {
      const keys = Object.keys(v)
      total += 2 + Math.max(0, keys.length - 1)
      for (const k of keys) {
        if (total > limit) break
        total += utf8Bytes(k) + 3
        stack.push((v as Record<string, unknown>)[k])
      }
    }
    if (total > limit) return undefined
  }
  return total
}

/** What of a container goes into its monitor config (structurally: limits.ts does not import Pod.ts). */
export interface ContainerParts {
  readonly command: ReadonlyArray<string>
  readonly args: ReadonlyArray<string>
  readonly env: { readonly [name: string]: string }
  readonly workingDir?: string | undefined
  readonly mounts: ReadonlyArray<{ readonly path: string }>
}

/** A problem if the container's argv, env, mounts and working dir overflow its share of the monitor config. */
export const containerBudgetIssue = (c: ContainerParts): string | undefined => {
  let bytes = 0
  for (const s of [...c.command, ...c.args]) bytes += jsonStringBytes(s) + 1
  for (const [k, v] of Object.entries(c.env)) bytes += jsonStringBytes(`${k}=${v}`) + 1
  for (const m of c.mounts) bytes += jsonStringBytes(m.path) + 1
  if (c.workingDir !== undefined) bytes += jsonStringBytes(c.workingDir)
  return bytes <= MONITOR_BUDGET_BYTES ?
    undefined :
    `command, args, env, mounts and workingDir take ${bytes} bytes of ` +
    `the container's monitor config; at most ${MONITOR_BUDGET_BYTES} (the file is limited to ${MONITOR_CONFIG_BYTES})`
}
