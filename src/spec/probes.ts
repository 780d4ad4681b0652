/**
 * Health probes of a container, as Schemas (pure): Kubernetes' names and fields, so a manifest's
 * probe reads the same in Tank's spec. What they do at run time lives in src/probes/; what is not
 * run (HTTPS) is refused by probeIssues.
 *
 *   livenessProbe:  fails `failureThreshold` times in a row → the container is stopped and restarted
 *                   under the pod's restart policy and backoff
 *   readinessProbe: `ready` in the status (per container and pod); never restarts anything
 *   startupProbe:   holds the other two until it passes; failing it is like failing liveness
 */
import { Schema } from "effect"
import { CString, Ipv4, PositiveInt } from "./fields.js"
import { quoted } from "./printable.js"

const Port = PositiveInt("port", 65535)

/** Seconds as Kubernetes counts them: whole numbers, `min` and up (at most a day). */
const Seconds = (what: string, min: number, fallback: number) =>
  Schema.optionalWith(
    Schema.Number.pipe(
      Schema.filter((n) =>
        Number.isInteger(n) && n >= min && n <= 86_400 ? true : `${what} must be a whole number from ${min} to 86400`
      )
    ),
    { default: () => fallback }
  )

const Count = (what: string, fallback: number) =>
  Schema.optionalWith(
    Schema.Number.pipe(
      Schema.filter((n) => Number.isInteger(n) && n >= 1 && n <= 1000 ? true : `${what} must be 1..1000`)
    ),
    { default: () => fallback }
  )

/** Runs in the container (its namespaces, user, cgroups, capabilities): exit 0 is success. */
export const ExecAction = Schema.Struct({
  command: Schema.Array(CString).pipe(
    Schema.filter((c) => c.length > 0 ? true : "exec.command needs at least one element")
  )
}).annotations({ identifier: "ExecAction" })

const HeaderName = Schema.String.pipe(
  Schema.filter((s) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/.test(s) ? true : `${quoted(s)} is not an HTTP header name`)
)
const HeaderValue = Schema.String.pipe(
  Schema.filter((s) =>
    s.length <= 4096 && !/[\0\r\n]/.test(s) ? true : "an HTTP header value has no CR, LF or NUL (at most 4096)"
  )
)

/**
 * An HTTP GET from inside the pod's network namespace (so it works with `network: none`): a status
 * from 200 to 399 is success. `host` defaults to the pod's first address, else 127.0.0.1.
 */
export const HttpGetAction = Schema.Struct({
  path: Schema.optionalWith(
    Schema.String.pipe(
      Schema.filter((p) =>
        p.startsWith("/") && p.length <= 2048 && !/[\s\0]/.test(p)
          ? true
          : `path ${quoted(p)} must start with "/" and hold no whitespace (at most 2048)`
      )
    ),
    { default: () => "/" }
  ),
  port: Port,
  host: Schema.optionalWith(Ipv4, { exact: true }),
  scheme: Schema.optionalWith(
    Schema.Literal("HTTP", "HTTPS").annotations({ message: () => `scheme must be "HTTP" or "HTTPS"` }),
    { default: () => "HTTP" as const }
  ),
  httpHeaders: Schema.optionalWith(
    Schema.Array(Schema.Struct({ name: HeaderName, value: HeaderValue })).pipe(
      Schema.filter((h) => h.length <= 32 ? true : `at most 32 headers (got ${h.length})`)
    ),
    { exact: true }
  )
}).annotations({ identifier: "HttpGetAction" })

/** A TCP connect from inside the pod's network namespace: connected is success. */
export const TcpSocketAction = Schema.Struct({
  port: Port,
  host: Schema.optionalWith(Ipv4, { exact: true })
}).annotations({ identifier: "TcpSocketAction" })

export const Probe = Schema.Struct({
  exec: Schema.optionalWith(ExecAction, { exact: true }),
  httpGet: Schema.optionalWith(HttpGetAction, { exact: true }),
  tcpSocket: Schema.optionalWith(TcpSocketAction, { exact: true }),
  /** After the container starts, before the first probe. */
  initialDelaySeconds: Seconds("initialDelaySeconds", 0, 0),
  periodSeconds: Seconds("periodSeconds", 1, 10),
  /** A probe that takes longer has failed (an exec probe's command is then stopped). */
  timeoutSeconds: Seconds("timeoutSeconds", 1, 1),
  /** Consecutive successes that make a failing probe pass again (1 for liveness and startup). */
  successThreshold: Count("successThreshold", 1),
  /** Consecutive failures that make it fail. */
  failureThreshold: Count("failureThreshold", 3)
}).pipe(
  Schema.filter((p) => {
    const n = [p.exec, p.httpGet, p.tcpSocket].filter((h) => h !== undefined).length
    return n === 1 ? true : `a probe needs exactly one of exec, httpGet, tcpSocket (got ${n})`
  }),
  Schema.annotations({ identifier: "Probe" })
)
export type Probe = typeof Probe.Type
export type ProbeInput = typeof Probe.Encoded

export type ProbeKind = "liveness" | "readiness" | "startup"

/**
 * What the agent does with the image's HEALTHCHECK (docker image config) when the container has no
 * probe of its own: `show` (the default) runs it and shows its verdict as `health`, as docker does;
 * `restart` also kills an unhealthy container, to restart under the restart policy (what a failed
 * liveness probe does); `off` does not run it. A container with a probe never runs it.
 */
export const HealthcheckMode = Schema.Literal("show", "restart", "off").annotations({
  identifier: "HealthcheckMode",
  message: () => `healthcheck must be "show", "restart" or "off"`
})
export type HealthcheckMode = typeof HealthcheckMode.Type

/** The probe fields of a container, spread into `Container` (absent unless given). */
export const probeFields = {
  livenessProbe: Schema.optionalWith(Probe, { exact: true }),
  readinessProbe: Schema.optionalWith(Probe, { exact: true }),
  startupProbe: Schema.optionalWith(Probe, { exact: true }),
  healthcheck: Schema.optionalWith(HealthcheckMode, { exact: true })
}

type Issue = { readonly path: ReadonlyArray<PropertyKey>; readonly message: string }

/**
 * Liveness and startup probes pass on the first success (Kubernetes refuses any other value). What
 * the agent does not run is refused rather than silently ignored: an HTTPS httpGet.
 */
export const probeIssues = (
  c: {
    readonly livenessProbe?: Probe | undefined
    readonly readinessProbe?: Probe | undefined
    readonly startupProbe?: Probe | undefined
  },
  at: ReadonlyArray<PropertyKey>
): Array<Issue> => [
  ...(["livenessProbe", "startupProbe"] as const).flatMap((p) =>
    c[p] !== undefined && c[p].successThreshold !== 1
      ? [{ path: [...at, p, "successThreshold"], message: `must be 1 for a ${p.replace("Probe", "")} probe` }]
      : []
  ),
  ...(["livenessProbe", "readinessProbe", "startupProbe"] as const).flatMap((p) =>
    c[p]?.httpGet?.scheme === "HTTPS"
      ? [{ path: [...at, p, "httpGet", "scheme"], message: "HTTPS probes are not run by this Tank (HTTP is)" }]
      : []
  )
]
