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
      const prepare = (cs: typeof pod.containers) =>
        Effect.forEach(
          cs,
          (c) => prepareContainer(deps.images, pod, c, run.live.volumes ?? new Map(), deps.security, run.live.ids),
          { concurrency: "unbounded" }
        )
      const [prepared, inits] = yield* Effect.all([prepare(pod.containers), prepare(pod.initContainers)], {
        concurrency: "unbounded"
      })
      run.live.prepared = prepared
      run.live.inits = inits
      yield* run.progress("starting")
      return Object.fromEntries(
        [...inits, ...prepared].flatMap((c) => c.imageDigest ? [[c.spec.name, c.imageDigest] as const] : [])
      )
    }),
  release: () => Effect.void
}
