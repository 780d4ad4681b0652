/**
 * The reconciler's plan: pure diff of desired pods (from the store) against the pods the actuator
 * tracks. Any spec change (compared by `specKey`, the canonical JSON of the spec) replaces the pod;
 * a new revision with an identical spec is kept. The actuator performs every stop (including the
 * stop half of a replace) before any start, so a pod that gives up a name or an address is gone
 * before the one that takes it comes up.
 *
 * A pod whose stored record cannot be read is `held`: its desired state is unknown, so the plan
 * neither starts it nor stops or replaces what runs of it (the run keeps its last valid spec until
 * the record is repaired, re-applied or deleted). Losing a running service because its row was
 * damaged would be worse than running the last spec it was given.
 */

import { canonicalJson } from "../spec/decode.js"
import type { Pod } from "../spec/Pod.js"

export interface DesiredPod {
  readonly name: string
  readonly revision: number
  /** Spec identity: `canonicalJson(spec)`. */
  readonly specKey: string
}

export interface ObservedPod {
  readonly specKey: string
}

export interface Plan {
  /** Desired and not tracked. */
  readonly start: ReadonlyArray<DesiredPod>
  /** Tracked and no longer desired (names). */
  readonly stop: ReadonlyArray<string>
  /** Tracked with a different spec: stop the old run, start the new one. */
  readonly replace: ReadonlyArray<DesiredPod>
  /** Tracked with the same spec (the revision may have moved on). */
  readonly keep: ReadonlyArray<DesiredPod>
  /** Tracked, with an unreadable record: left exactly as they are (names). */
  readonly hold: ReadonlyArray<string>
}

export const plan = (
  desired: ReadonlyArray<DesiredPod>,
  observed: ReadonlyMap<string, ObservedPod>,
  held: ReadonlySet<string> = new Set()
): Plan => {
  const start: Array<DesiredPod> = []
  const replace: Array<DesiredPod> = []
  const keep: Array<DesiredPod> = []
  const wanted = new Set<string>(held)
  for (const d of [...desired].sort(byName)) {
    if (wanted.has(d.name)) continue
    wanted.add(d.name)
    const o = observed.get(d.name)
    if (o === undefined) start.push(d)
    else if (o.specKey !== d.specKey) replace.push(d)
    else keep.push(d)
  }
  const stop = [...observed.keys()].filter((name) => !wanted.has(name)).sort()
  const hold = [...observed.keys()].filter((name) => held.has(name)).sort()
  return { start, stop, replace, keep, hold }
}

export type Step =
  | { readonly _tag: "Stop"; readonly name: string }
  | { readonly _tag: "Start"; readonly pod: DesiredPod }

/** The plan as an ordered list of steps: every stop (removed pods, then replaced ones) before any start. */
export const steps = (p: Plan): ReadonlyArray<Step> => [
  ...p.stop.map((name): Step => ({ _tag: "Stop", name })),
  ...p.replace.map((pod): Step => ({ _tag: "Stop", name: pod.name })),
  ...p.replace.map((pod): Step => ({ _tag: "Start", pod })),
  ...p.start.map((pod): Step => ({ _tag: "Start", pod }))
]

export const isEmpty = (p: Plan): boolean => p.start.length === 0 && p.stop.length === 0 && p.replace.length === 0

const byName = (a: DesiredPod, b: DesiredPod) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0

/**
 * A pod's identity for the reconciler: its canonical spec plus its restart generation, so both an
 * edited spec and a `Tank.restart` from any process replace the run (and reset its backoff), while a
 * re-apply of the same spec keeps it.
 */
export const podKey = (pod: { readonly spec: Pod; readonly restartGeneration: number }): string =>
  `${canonicalJson(pod.spec)}#${pod.restartGeneration}`
