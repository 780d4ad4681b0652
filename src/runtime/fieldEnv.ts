/**
 * `fieldEnv` (Kubernetes' downward API `fieldRef`s that are only known once the pod runs), resolved
 * when a container starts (pure): over the image's env and `env`, in the container's env order.
 */
import type { FieldPath } from "../spec/runFields.js"
import type { PreparedContainer } from "./prepare.js"

export interface RunFacts {
  /** The pod's addresses as configured ("10.0.0.5/24"); empty without NICs. */
  readonly addresses: ReadonlyArray<string>
  /** The node running the pod (the machine's name on a single machine). */
  readonly nodeName: string
}

/** `status.podIP`: the first address without its prefix, "" for a pod without one (network none or host). */
export const fieldValue = (field: FieldPath, facts: RunFacts): string =>
  field === "status.podIP" ? (facts.addresses[0]?.split("/")[0] ?? "") : facts.nodeName

export const withFieldEnv = (c: PreparedContainer, facts: RunFacts): PreparedContainer => {
  const fields = Object.entries(c.spec.fieldEnv ?? {})
  if (fields.length === 0) return c
  const names = new Set(fields.map(([k]) => k))
  return {
    ...c,
    env: [
      ...c.env.filter((e) => !names.has(e.slice(0, e.indexOf("=") < 0 ? e.length : e.indexOf("=")))),
      ...fields.map(([k, f]) => `${k}=${fieldValue(f, facts)}`)
    ]
  }
}
