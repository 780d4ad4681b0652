/**
 * Readiness as readers show it (pure), the kubelet's rule: a container is ready when it runs and its
 * readiness and startup probes (if any) pass; a pod is ready when it runs and every container is.
 * The agent writes only what the probes said (`ready`, `readyReason`, src/reconciler/probes.ts);
 * a container without such probes has nothing written, and whether it runs is in the status. So the
 * verdict needs the spec, and `Api.status`/`statusReport` apply this to what they read, as they do
 * observed.ts. Idempotent: a derived status derives to itself. The image healthcheck's `health` is
 * dropped where the container does not run (what the agent last wrote is about an ended start).
 */
import type { ContainerStatus, PodStatus } from "../store/status.js"

/** What the verdict reads of a spec (a Pod is one; the CLI's narrow reader decodes only this). */
export interface ReadinessSpec {
  readonly containers: ReadonlyArray<{
    readonly name: string
    readonly readinessProbe?: unknown
    readonly startupProbe?: unknown
  }>
}

type SpecContainer = ReadinessSpec["containers"][number]

const gated = (c: SpecContainer) => c.readinessProbe !== undefined || c.startupProbe !== undefined

/** A container's verdict from the probe's (`written`) and whether it runs. */
const verdict = (
  c: SpecContainer,
  state: string,
  written: { readonly ready?: boolean | undefined; readonly readyReason?: string | undefined }
): { ready: boolean; reason?: string } =>
  state !== "running"
    ? { ready: false, reason: `not running (${state})` }
    : !gated(c) || written.ready === true
    ? { ready: true }
    : { ready: false, reason: written.readyReason ?? "its probe has not passed since it started" }

const setReason = <T extends { readonly readyReason?: string | undefined }>(x: T, reason: string | undefined): T => {
  const { readyReason: _, ...rest } = x
  return (reason === undefined ? rest : { ...rest, readyReason: reason }) as T
}

/** The image healthcheck's verdict is about a running container only (as docker shows it). */
const noHealth = <T extends { readonly health?: unknown }>(x: T): T => {
  const { health: _, ...rest } = x
  return rest as T
}

/** The status with `ready` (and `readyReason` when not) for the pod and each container of several. */
export const withReadiness = (s: PodStatus, spec: ReadinessSpec): PodStatus => {
  if (s.phase !== "running") return setReason(noHealth({ ...s, ready: false }), undefined)
  const several = s.containers !== undefined && s.containers.length > 1
  if (!several) {
    const c = spec.containers[0]
    const v = c === undefined ? { ready: true } : verdict(c, "running", s)
    return setReason({ ...s, ready: v.ready }, v.reason)
  }
  const containers = s.containers!.map((cs): ContainerStatus => {
    const c = spec.containers.find((x) => x.name === cs.name)
    const v = c === undefined ? { ready: cs.state === "running" } : verdict(c, cs.state, cs)
    const shown = cs.state === "running" ? cs : noHealth(cs)
    return setReason({ ...shown, ready: v.ready }, v.reason)
  })
  const bad = containers.filter((c) => c.ready !== true)
  return setReason(
    { ...s, containers, ready: bad.length === 0 },
    bad.length === 0 ? undefined : bad.map((c) => `container ${c.name}: ${c.readyReason ?? "not ready"}`).join("; ")
  )
}
