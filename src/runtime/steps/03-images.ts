/**
 * Step 3, images: every container's image pulled if absent, its run parameters, user and security
 * settings resolved (prepare.ts). The layers are the shared cache's: nothing to undo.
 */
import { Effect } from "effect"
import { prepareContainer } from "../prepare.js"
import type { Step } from "./Step.js"

export const images: Step<"images"> = {
  name: "images",
  acquire: (run) =>
    Effect.gen(function*() {
      yield* run.progress("pulling")
      const { deps, pod } = run
      const specs = [...pod.containers, ...pod.initContainers]
      // Side by side when there are several (pulls wait on the network); one alone runs in this
      // fiber: forking buys nothing for a cached image's lookup (issue 21: CPU per start).
      const all = yield* Effect.forEach(
        specs,
        (c) => prepareContainer(deps.images, pod, c, run.live.volumes ?? new Map(), deps.security, run.live.ids),
        specs.length > 1 ? { concurrency: "unbounded" } : {}
      )
      const prepared = all.slice(0, pod.containers.length)
      const inits = all.slice(pod.containers.length)
      run.live.prepared = prepared
      run.live.inits = inits
      yield* run.progress("starting")
      return Object.fromEntries(
        [...inits, ...prepared].flatMap((c) => c.imageDigest ? [[c.spec.name, c.imageDigest] as const] : [])
      )
    }),
  release: () => Effect.void
}
