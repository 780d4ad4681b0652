/**
 * Which cached images the declared pods use, pure: the digests `Images.prune` must keep. Pods name
 * refs; the cache keys content by digest, so each ref a pod names maps to its cached records.
 */
import { Either } from "effect"
import type { Pod } from "../spec/Pod.js"
import type { RefRecord } from "./cache.js"
import { formatReference, parseReference } from "./reference.js"

export const inUseDigests = (pods: ReadonlyArray<Pod>, records: ReadonlyArray<RefRecord>): Set<string> => {
  const refs = new Set<string>()
  for (const pod of pods) {
    for (const c of [...pod.initContainers, ...pod.containers]) {
      if (typeof c.image !== "string") continue
      const ref = parseReference(c.image)
      if (Either.isRight(ref)) refs.add(formatReference(ref.right))
    }
  }
  const inUse = new Set<string>()
  for (const r of records) {
    if (refs.has(r.ref)) {
      inUse.add(r.digest)
      inUse.add(r.manifest)
    }
  }
  return inUse
}
