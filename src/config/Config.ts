/**
 * Operational config: where Tank keeps its data, which store it uses, host facts, boot seed pods,
 * reconciler timing, registries. Read from an optional YAML/JSON file, then overridden by env vars.
 *
 * File: `$TANK_CONFIG`, else `<dataDir>/config.yaml` when it exists. See README "Configuration".
 */
import { Context, Effect, Either, Layer, ParseResult, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { AbsPath, Ipv4, labelKeyProblem, labelValueProblem, LinkName } from "../spec/fields.js"
import { formatPath } from "../spec/issuePath.js"
import { isWebProblem, resolveWeb, type WebConfig, WebConfigFile } from "../web/config.js"
import { dataDirOf, fileToRead, isNodeName, type LoadOptions } from "./locate.js"
import { type NetworkConfig, NetworkConfigFile, poolIssues, resolveNetwork } from "./network.js"

const Millis = Schema.Number.pipe(
  Schema.filter((n) => Number.isInteger(n) && n >= 0 ? true : `must be a whole number of milliseconds (got ${n})`)
)

export const RegistryConfig = Schema.Struct({
  /** Allow plain HTTP (and unverified TLS) to this registry. Loopback registries are always allowed. */
  insecure: Schema.optional(Schema.Boolean),
  username: Schema.optional(Schema.String),
  password: Schema.optional(Schema.String),
  /** PEM file of a CA to trust for this registry. */
  ca: Schema.optional(AbsPath("ca"))
})

const EtcdEndpoint = Schema.String.pipe(
  Schema.filter((s) =>
    /^https?:\/\/[^/\s]+$/.test(s) ? true : `"${s}" is not an etcd endpoint (http://host:port or https://host:port)`
  )
)

/** Desired state in etcd (cluster mode) instead of the embedded SQLite file. */
export const EtcdConfig = Schema.Struct({
  endpoints: Schema.NonEmptyArray(EtcdEndpoint),
  /** Allow `http://` endpoints (no TLS: specs and etcd credentials cross the network in the clear). */
  insecure: Schema.optional(Schema.Boolean),
  /** Every key Tank writes is under this prefix (several Tank clusters can share one etcd). */
  prefix: Schema.optionalWith(
    Schema.String.pipe(
      Schema.filter((s) => s.startsWith("/") && s.endsWith("/") ? true : `must start and end with "/"`)
    ),
    { default: () => "/tank/" }
  ),
  tls: Schema.optional(Schema.Struct({
    ca: Schema.optional(AbsPath("store.etcd.tls.ca")),
    cert: Schema.optional(AbsPath("store.etcd.tls.cert")),
    key: Schema.optional(AbsPath("store.etcd.tls.key"))
  })),
  auth: Schema.optional(Schema.Struct({ username: Schema.String, password: Schema.String }))
})
export type EtcdConfig = typeof EtcdConfig.Type

const NodeName = Schema.String.pipe(
  Schema.filter((s) =>
    isNodeName(s)
      ? true
      : `"${s}" is not a valid node name (DNS label, 1-63 of a-z 0-9 -)`
  )
)

/** This machine as a cluster node (used only with an etcd store). */
export const NodeConfig = Schema.Struct({
  /** Default: the host name. */
  name: Schema.optional(NodeName),
  /** Kubernetes label rules, so every `nodeSelector` a pod can have is able to match them. */
  labels: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.String }).pipe(Schema.filter((labels) => {
      const issues = Object.entries(labels).flatMap(([k, v]) => {
        const problem = labelKeyProblem(k) ?? labelValueProblem(v)
        return problem ? [{ path: [k], message: problem }] : []
      })
      return issues.length ? issues : true
    }))
  ),
  /** What the scheduler may place here; default: the machine's CPUs and memory. */
  capacity: Schema.optional(Schema.Struct({
    /** Millicores. */
    cpu: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive())),
    /** Bytes. */
    memory: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive())),
    pods: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive()))
  })),
  /** The node's lease: it is not ready once this long passes without a keep-alive. */
  leaseTtlSeconds: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(2, 3600))),
  /** How long a node may stay not ready before its pods are rescheduled or reported lost. */
  lostAfterSeconds: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(0, 86_400)))
})

/** A range of host ids for pod user namespaces: whole blocks of 65536, above the host's own ids. */
export const IdRange = Schema.Struct({
  start: Schema.Number.pipe(
    Schema.filter((n) =>
      Number.isInteger(n) && n >= 65536 && n % 65536 === 0
        ? true
        : `must be a multiple of 65536, at least 65536 (got ${n})`
    )
  ),
  size: Schema.Number.pipe(
    Schema.filter((n) =>
      Number.isInteger(n) && n >= 65536 && n % 65536 === 0 ? true : `must be a positive multiple of 65536 (got ${n})`
    )
  )
}).pipe(Schema.filter((r) => r.start + r.size <= 2 ** 32 - 1 ? true : "must end below 4294967295"))

export const ConfigFile = Schema.Struct({
  dataDir: Schema.optional(AbsPath("dataDir")),
  /** SQLite file for the store (default `<dataDir>/tank.db`), or etcd for several machines. */
  store: Schema.optional(Schema.Union(
    Schema.Struct({ sqlite: AbsPath("store.sqlite") }),
    Schema.Struct({ etcd: EtcdConfig })
  )),
  node: Schema.optional(NodeConfig),
  host: Schema.optional(Schema.Struct({
    /** Interface used for `parent: auto` NICs. */
    uplink: Schema.optional(LinkName),
    /** DNS servers for pods whose network names none. */
    dns: Schema.optional(Schema.Array(Ipv4))
  })),
  /** Address pools, pod DNS, the host shim, the bridge (src/config/network.ts). */
  network: Schema.optional(NetworkConfigFile),
  /** Pods written create-if-absent when the agent starts (never clobbering later changes). */
  seed: Schema.optional(Schema.Array(Schema.Unknown)),
  reconciler: Schema.optional(Schema.Struct({
    resyncIntervalMs: Schema.optional(Millis),
    backoffBaseMs: Schema.optional(Millis),
    backoffCapMs: Schema.optional(Millis),
    stableWindowMs: Schema.optional(Millis),
    stopGracePeriodMs: Schema.optional(Millis)
  })),
  /** Stop every pod when the agent exits (default: leave them running for the next agent). */
  stopPodsOnExit: Schema.optional(Schema.Boolean),
  /** Pods without `init` get tank-init as PID 1 of their containers (default false). */
  init: Schema.optional(Schema.Boolean),
  logs: Schema.optional(Schema.Struct({
    maxFileBytes: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.greaterThanOrEqualTo(4096))),
    maxFiles: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 100))),
    /** Keep a pod's logs after it is deleted. */
    keepOnDelete: Schema.optional(Schema.Boolean)
  })),
  /** Per-registry settings keyed by host[:port]. */
  registries: Schema.optional(Schema.Record({ key: Schema.String, value: RegistryConfig })),
  /** A docker config.json whose `auths` supply registry credentials. */
  dockerConfig: Schema.optional(AbsPath("dockerConfig")),
  /**
   * Host paths pods may mount although they expose Tank's own files (`/`, the data dir, anything in
   * it or above it, the store file): each entry allows exactly that directory, not its subdirectories.
   */
  allowedHostPaths: Schema.optional(Schema.Array(AbsPath("allowedHostPaths entry"))),
  /** Pods in user namespaces (`hostUsers: false`). */
  userNamespaces: Schema.optional(Schema.Struct({
    /** hostUsers for pods applied without the field (default true); false puts new pods in their own. */
    hostUsers: Schema.optional(Schema.Boolean),
    /**
     * The host ids handed out, 65536 per pod; default: the `tank` entries of /etc/subuid and
     * /etc/subgid (the setup adds them).
     */
    range: Schema.optional(IdRange)
  })),
  /** The web dashboard served by the agent (docs/web.md). */
  web: Schema.optional(WebConfigFile)
})
export type ConfigFile = typeof ConfigFile.Type

/** The resolved configuration every part of Tank reads. */
export interface TankConfigShape {
  readonly dataDir: string
  readonly storeFile: string
  /** Set: desired state lives in etcd and this agent is one node of a cluster. */
  readonly etcd: EtcdConfig | undefined
  readonly node: {
    readonly name: string
    readonly labels: Readonly<Record<string, string>>
    readonly capacity: { readonly cpu: number; readonly memory: number; readonly pods: number }
    readonly leaseTtlSeconds: number
    readonly lostAfterSeconds: number
  }
  readonly configFile: string | undefined
  readonly host: { readonly uplink: string | undefined; readonly dns: ReadonlyArray<string> }
  /** Pools (with a default bridge pool), DNS, probing. */
  readonly network: NetworkConfig
  readonly seed: ReadonlyArray<unknown>
  readonly reconciler: {
    readonly resyncIntervalMs: number
    readonly backoffBaseMs: number
    readonly backoffCapMs: number
    readonly stableWindowMs: number
    readonly stopGracePeriodMs: number
  }
  readonly stopPodsOnExit: boolean
  /** The default of pods' `init` (tank-init as PID 1); absent = false. */
  readonly init?: boolean
  readonly logs: { readonly maxFileBytes: number; readonly maxFiles: number; readonly keepOnDelete: boolean }
  readonly registries: Readonly<Record<string, typeof RegistryConfig.Type>>
  readonly dockerConfig: string | undefined
  /** Exact host paths volumes may use although they expose Tank's files (src/config/hostPaths.ts). */
  readonly allowedHostPaths: ReadonlyArray<string>
  readonly userNamespaces: {
    /** The hostUsers of pods applied without the field. */
    readonly hostUsers: boolean
    /** Configured range; undefined: /etc/subuid and /etc/subgid's `tank` entries. */
    readonly range: { readonly start: number; readonly size: number } | undefined
  }
  /** Set: the agent serves the web dashboard (config `web:` or `tank daemon --web`). */
  readonly web?: WebConfig
}

export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  /** The config file at fault; absent for environment variables. */
  file: Schema.optional(Schema.String),
  /** The (first) setting at fault: `host.dns[0]`, or the env var's name (`TANK_DNS`). */
  field: Schema.optional(Schema.String),
  /** What is wrong. For a file, every bad setting as `path: problem`, joined by "; ". */
  reason: Schema.String
}) {
  // `reason`, not `message`: a `message` field would shadow this getter and the printed error would
  // lose the file and the field.
  override get message(): string {
    const what = this.field && !this.reason.startsWith(`${this.field}: `)
      ? `${this.field}: ${this.reason}`
      : this.reason
    return `config${this.file ? ` ${this.file}` : ""}: ${what}`
  }
}

// Where the config is (plain code: `tank ps`'s lite path finds it without Schema).
export { defaultDataDir, type LoadOptions } from "./locate.js"

export class TankConfig extends Context.Tag("tank/Config")<TankConfig, TankConfigShape>() {}

/** The YAML parser a config file is read with (the `yaml` package; loaded only for a config file). */
export interface YamlParser {
  readonly parse: (text: string) => unknown
}

/** A config file's text, parsed and decoded (pure but for the parser). */
const parseText = (file: string, text: string, YAML: YamlParser): Either.Either<ConfigFile, ConfigError> => {
  let raw: unknown
  try {
    raw = YAML.parse(text) ?? {}
  } catch (e) {
    return Either.left(new ConfigError({ file, reason: `not valid YAML/JSON: ${(e as Error).message}` }))
  }
  return Either.mapLeft(
    Schema.decodeUnknownEither(ConfigFile, { errors: "all", onExcessProperty: "error" })(raw),
    (e) => {
      const issues = configIssues(e)
      return new ConfigError({
        file,
        ...(issues[0]?.path ? { field: issues[0].path } : {}),
        reason: issues.map((i) => i.path ? `${i.path}: ${i.message}` : i.message).join("; ")
      })
    }
  )
}

const readText = (file: string): Either.Either<string, ConfigError> => {
  try {
    return Either.right(fs.readFileSync(file, "utf8"))
  } catch (e) {
    return Either.left(new ConfigError({ file, reason: `cannot read: ${(e as Error).message}` }))
  }
}

const parseFile = (file: string) =>
  Effect.gen(function*() {
    const text = yield* readText(file)
    // Loaded only for a config file: most commands run without one, and start faster without it.
    const YAML = yield* Effect.promise(() =>
      import("yaml").then((m) => (m as unknown as { default?: typeof m }).default ?? m)
    )
    return yield* parseText(file, text, YAML)
  })

const configIssues = (e: ParseResult.ParseError) =>
  ParseResult.ArrayFormatter.formatErrorSync(e)
    // Schema.optional reports its "or undefined" branch as well; that never helps.
    .filter((i) => !i.message.startsWith("Expected undefined, actual"))
    .map((i) => ({
      path: formatPath(i.path),
      message: i._tag === "Unexpected"
        ? "unknown setting"
        : i.path.length === 0
        ? `the config file must be a mapping of settings (got ${/, actual (.*)$/s.exec(i.message)?.[1] ?? "?"})`
        : i.message
    }))

const TRUE = ["1", "true", "yes", "on"]
const FALSE = ["0", "false", "no", "off"]

/** A boolean env var; empty or unset is `undefined`, anything unrecognised is an error. */
const envBool = (name: string, v: string | undefined): Either.Either<boolean | undefined, ConfigError> => {
  if (v === undefined || v === "") return Either.right(undefined)
  if (TRUE.includes(v.toLowerCase())) return Either.right(true)
  if (FALSE.includes(v.toLowerCase())) return Either.right(false)
  return Either.left(new ConfigError({ field: name, reason: `"${v}": expected true/false (1/0, yes/no, on/off)` }))
}

export const load = (overrides: LoadOptions = {}): Effect.Effect<TankConfigShape, ConfigError> =>
  Effect.gen(function*() {
    const configFile = fileToRead(overrides)
    const file: ConfigFile = configFile ? yield* parseFile(configFile) : {}
    return yield* resolve(overrides, configFile, file)
  })

/**
 * `load`, synchronously (`tank ps`'s one-shot quick path runs without Effect's runtime): the same
 * resolution; `yaml` gives the parser when there is a config file to read.
 */
export const loadSync = (
  overrides: LoadOptions,
  yaml: () => YamlParser
): Either.Either<TankConfigShape, ConfigError> => {
  const configFile = fileToRead(overrides)
  if (configFile === undefined) return resolve(overrides, undefined, {})
  return Either.flatMap(
    Either.flatMap(readText(configFile), (text) => parseText(configFile, text, yaml())),
    (file) => resolve(overrides, configFile, file)
  )
}

/** The config from the file's settings (already decoded) and the environment. */
const resolve = (
  overrides: LoadOptions,
  configFile: string | undefined,
  file: ConfigFile
): Either.Either<TankConfigShape, ConfigError> =>
  Either.gen(function*() {
    const env = overrides.env ?? process.env
    const dataDir = dataDirOf(overrides, file.dataDir)
    // Empty env vars count as unset, like TANK_UPLINK and TANK_STOP_PODS_ON_EXIT.
    const dnsEnv = env.TANK_DNS ? env.TANK_DNS.split(",").map((s) => s.trim()).filter(Boolean) : undefined
    for (const d of dnsEnv ?? []) {
      if (!Schema.is(Ipv4)(d)) {
        return yield* Either.left(new ConfigError({ field: "TANK_DNS", reason: `"${d}" is not an IPv4 address` }))
      }
    }
    const uplinkEnv = env.TANK_UPLINK || undefined
    if (uplinkEnv !== undefined && !Schema.is(LinkName)(uplinkEnv)) {
      return yield* Either.left(
        new ConfigError({
          field: "TANK_UPLINK",
          reason:
            `"${uplinkEnv}" is not a valid interface name (1-15 characters of letters, digits, '_', '.', '-', ':', '@')`
        })
      )
    }
    const stopEnv = yield* envBool("TANK_STOP_PODS_ON_EXIT", env.TANK_STOP_PODS_ON_EXIT)
    const etcd = yield* etcdFrom(
      file,
      configFile,
      env.TANK_ETCD_ENDPOINTS,
      yield* envBool("TANK_ETCD_INSECURE", env.TANK_ETCD_INSECURE)
    )
    const nodeName = env.TANK_NODE_NAME || file.node?.name || os.hostname().toLowerCase().split(".")[0]!
    if (!Schema.is(NodeName)(nodeName)) {
      return yield* Either.left(
        new ConfigError({
          field: env.TANK_NODE_NAME ? "TANK_NODE_NAME" : "node.name",
          reason: `"${nodeName}" is not a valid node name (DNS label, 1-63 of a-z 0-9 -)`
        })
      )
    }
    const webEnv = env.TANK_WEB || undefined
    const web = resolveWeb(
      file.web,
      overrides.webListen !== undefined
        ? { listen: overrides.webListen, field: "--web" }
        : webEnv !== undefined
        ? { listen: webEnv, field: "TANK_WEB" }
        : undefined
    )
    if (isWebProblem(web)) {
      return yield* Either.left(
        new ConfigError({
          ...(configFile && web.field.startsWith("web.") ? { file: configFile } : {}),
          field: web.field,
          reason: web.reason
        })
      )
    }
    const poolProblem = poolIssues(file.network?.pools ?? [])[0]
    if (poolProblem !== undefined) {
      return yield* Either.left(
        new ConfigError({
          ...(configFile ? { file: configFile } : {}),
          field: poolProblem[0],
          reason: poolProblem[1]
        })
      )
    }
    const cap = file.node?.capacity ?? {}
    const r = file.reconciler ?? {}
    return {
      dataDir,
      storeFile: (file.store && "sqlite" in file.store ? file.store.sqlite : undefined) ??
        path.join(dataDir, "tank.db"),
      etcd,
      node: {
        name: nodeName,
        labels: file.node?.labels ?? {},
        capacity: {
          cpu: cap.cpu ?? os.availableParallelism() * 1000,
          memory: cap.memory ?? os.totalmem(),
          pods: cap.pods ?? 110
        },
        leaseTtlSeconds: file.node?.leaseTtlSeconds ?? 10,
        lostAfterSeconds: file.node?.lostAfterSeconds ?? 30
      },
      configFile,
      host: { uplink: uplinkEnv ?? file.host?.uplink, dns: dnsEnv ?? file.host?.dns ?? [] },
      network: resolveNetwork(file.network),
      seed: file.seed ?? [],
      reconciler: {
        resyncIntervalMs: r.resyncIntervalMs ?? 5_000,
        backoffBaseMs: r.backoffBaseMs ?? 10_000,
        backoffCapMs: r.backoffCapMs ?? 300_000,
        stableWindowMs: r.stableWindowMs ?? 600_000,
        stopGracePeriodMs: r.stopGracePeriodMs ?? 10_000
      },
      stopPodsOnExit: stopEnv ?? file.stopPodsOnExit ?? false,
      ...(file.init !== undefined ? { init: file.init } : {}),
      logs: {
        maxFileBytes: file.logs?.maxFileBytes ?? 10 * 1024 * 1024,
        maxFiles: file.logs?.maxFiles ?? 5,
        keepOnDelete: file.logs?.keepOnDelete ?? false
      },
      registries: file.registries ?? {},
      dockerConfig: file.dockerConfig,
      allowedHostPaths: file.allowedHostPaths ?? [],
      userNamespaces: {
        hostUsers: file.userNamespaces?.hostUsers ?? true,
        range: file.userNamespaces?.range
      },
      ...(web ? { web } : {})
    }
  })

const etcdFrom = (
  file: ConfigFile,
  configFile: string | undefined,
  endpointsEnv: string | undefined,
  insecureEnv: boolean | undefined
) =>
  Either.gen(function*() {
    const fromFile = file.store && "etcd" in file.store ? file.store.etcd : undefined
    const endpoints = endpointsEnv ? endpointsEnv.split(",").map((s) => s.trim()).filter(Boolean) : undefined
    const merged = !endpoints
      ? fromFile
      : yield* Either.mapLeft(
        Schema.decodeUnknownEither(EtcdConfig)({
          ...(fromFile ? Schema.encodeSync(EtcdConfig)(fromFile) : {}),
          endpoints
        }),
        (e) =>
          new ConfigError({ field: "TANK_ETCD_ENDPOINTS", reason: configIssues(e).map((i) => i.message).join("; ") })
      )
    if (!merged) return undefined
    const etcd = insecureEnv === undefined ? merged : { ...merged, insecure: insecureEnv }
    // etcd holds every pod spec, and with auth its password crosses on each connect: plain HTTP only
    // on request, whatever the host (no loopback exception: a lab's config gets copied to a LAN).
    const plain = etcd.insecure === true ? -1 : etcd.endpoints.findIndex((e) => e.startsWith("http://"))
    if (plain < 0) return etcd
    const byEnv = endpoints ? "TANK_ETCD_ENDPOINTS" : insecureEnv === false ? "TANK_ETCD_INSECURE" : undefined
    return yield* Either.left(
      new ConfigError({
        ...(byEnv
          ? { field: byEnv }
          : { field: `store.etcd.endpoints[${plain}]`, ...(configFile ? { file: configFile } : {}) }),
        reason: `"${etcd.endpoints[plain]}" is plain HTTP (no TLS): use https:// with tls { ca, cert, key }, ` +
          `or set insecure: true in store.etcd (or TANK_ETCD_INSECURE=1) to allow it`
      })
    )
  })

/** Config from the file and environment. */
export const layer = (overrides?: Parameters<typeof load>[0]): Layer.Layer<TankConfig, ConfigError> =>
  Layer.effect(TankConfig, load(overrides))
