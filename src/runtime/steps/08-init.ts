/**
 * Step 8, init: init containers, in order, each run to completion (exit 0) under its own monitor
 * before the next; any other ending fails the bring-up. Undo: a monitor of an init container that
 * was still running (the agent died meanwhile) is stopped; finished ones are gone already.
 */
import { Effect, Exit, Scope } from "effect"
import { SetupFailed } from "../errors.js"
import { withFieldEnv } from "../fieldEnv.js"
import { launch, proceedOne, step } from "../monitors.js"
import { stopMonitorsByName } from "./monitorsByName.js"
import type { Step } from "./Step.js"

export const init: Step<"init"> = {
  name: "init",
  needed: (pod) => pod.initContainers.length > 0,
  acquire: (run) =>
    Effect.gen(function*() {
      const { deps, layout, pod } = run
      const ran: Array<string> = []
      for (const c of run.live.inits ?? []) {
        const facts = { addresses: run.live.addresses ?? [], nodeName: deps.nodeName }
        const s = yield* launch(
          deps.settings,
          pod,
          layout,
          withFieldEnv(c, facts),
          run.live.procs?.get(c.spec.name) ?? [],
          run.scope
        )
        yield* proceedOne(pod.name, s)
        const r = yield* s.client.wait.pipe(Effect.mapError(step(pod.name, `init ${c.spec.name}`)))
        if (r.reason !== "exited" || r.exitCode !== 0) {
          return yield* new SetupFailed({
            pod: pod.name,
            step: `init ${c.spec.name}`,
            message: r.reason === "exited"
              ? `init container exited with code ${r.exitCode}`
              : r.reason === "signaled"
              ? `init container killed by signal ${r.signal}`
              : `init container setup failed: ${r.setupError.step}: ${r.setupError.message}`
          })
        }
        yield* Scope.close(s.scope, Exit.void)
        ran.push(c.spec.name)
        yield* run.save("init", [...ran])
      }
      return ran
    }),
  release: (undo, done) => done ? Effect.void : stopMonitorsByName(undo)
}
