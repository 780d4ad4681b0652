/**
 * Where Tank's configuration comes from, before any of it is decoded: the default data dir, the
 * config file to read, the data dir the overrides and environment choose. Plain code, free of Schema
 * (Config.ts decodes; `tank ps`'s lite path, src/cli/quickPsLite.ts, uses these to tell whether there
 * is anything to decode at all).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/**
 * The default data dir: root's is `/var/lib/tank` (a system daemon's state, as podman's
 * `/var/lib/containers`), so `sudo tank daemon` and `sudo tank apply` agree whatever HOME sudo keeps;
 * anyone else's is `$XDG_CACHE_HOME/tank`, else `~/.cache/tank`.
 */
export const defaultDataDir = (env: NodeJS.ProcessEnv = process.env, euid = process.geteuid?.()): string =>
  euid === 0 ? "/var/lib/tank" : path.join(env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), ".cache"), "tank")

/**
 * Resolve the configuration: defaults ← config file ← environment.
 * Env: TANK_DATA_DIR, TANK_CONFIG, TANK_UPLINK, TANK_DNS (comma-separated), TANK_STOP_PODS_ON_EXIT,
 * TANK_ETCD_ENDPOINTS (comma-separated: use etcd with the file's other etcd settings or defaults),
 * TANK_ETCD_INSECURE (store.etcd.insecure), TANK_NODE_NAME, TANK_WEB (serve the dashboard at host:port, over the
 * file's web.listen).
 */
export interface LoadOptions {
  readonly dataDir?: string
  readonly env?: NodeJS.ProcessEnv
  /** Whose default data dir (default: this process's effective uid). */
  readonly euid?: number
  /** `tank daemon --web ADDR`: serve the dashboard there (over the file's `web.listen`). */
  readonly webListen?: string
}

/** The config file to read for `overrides`, if any ($TANK_CONFIG, else `<dataDir>/config.yaml` if it exists). */
export const fileToRead = (overrides: LoadOptions) => {
  const env = overrides.env ?? process.env
  const candidate = env.TANK_CONFIG || path.join(explicitDataDir(overrides) ?? fallbackDir(overrides), "config.yaml")
  return env.TANK_CONFIG || fs.existsSync(candidate) ? candidate : undefined
}

const fallbackDir = (overrides: LoadOptions) =>
  defaultDataDir(overrides.env ?? process.env, overrides.euid ?? process.geteuid?.())

/** The data dir named by the overrides or TANK_DATA_DIR (an empty variable counts as unset). */
const explicitDataDir = (overrides: LoadOptions): string | undefined =>
  overrides.dataDir ?? ((overrides.env ?? process.env).TANK_DATA_DIR || undefined)

/** The data dir, absolute: the overrides', else TANK_DATA_DIR, else the file's, else the default. */
export const dataDirOf = (overrides: LoadOptions, fileDataDir: string | undefined): string =>
  path.resolve(explicitDataDir(overrides) ?? fileDataDir ?? fallbackDir(overrides))

/** A node name: a DNS label, 1-63 of a-z 0-9 - (Config.ts's NodeName). */
export const isNodeName = (s: string): boolean => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(s)

/**
 * The environment variables Config.ts's resolve judges (each may be a ConfigError) or that put the
 * store elsewhere (etcd): set, the config is not the defaults' alone.
 */
const JUDGED_ENV = [
  "TANK_DNS",
  "TANK_UPLINK",
  "TANK_STOP_PODS_ON_EXIT",
  "TANK_ETCD_ENDPOINTS",
  "TANK_ETCD_INSECURE",
  "TANK_NODE_NAME",
  "TANK_WEB"
] as const

/**
 * Where the store is when the config is defaults alone — no config file, none of JUDGED_ENV set, a
 * host name that is a valid node name — i.e. when Config.ts's loadSync can only give this data dir
 * and `<dataDir>/tank.db`, in SQLite mode, and no ConfigError. Otherwise why not (the caller then
 * loads and decodes the config whole, which reports any error).
 */
export const defaultsOnly = (
  overrides: Pick<LoadOptions, "dataDir" | "env" | "euid">
): { readonly dataDir: string; readonly storeFile: string; readonly etcd: undefined } | string => {
  const env = overrides.env ?? process.env
  const file = fileToRead(overrides)
  if (file !== undefined) return `a config file to decode (${file})`
  const judged = JUDGED_ENV.find((v) => env[v])
  if (judged !== undefined) return `${judged} is set`
  // Config.ts's node name without TANK_NODE_NAME or a file: the host's, which it judges.
  if (!isNodeName(os.hostname().toLowerCase().split(".")[0]!)) return "the host name is not a valid node name"
  const dataDir = dataDirOf(overrides, undefined)
  return { dataDir, storeFile: path.join(dataDir, "tank.db"), etcd: undefined }
}
