/**
 * Test-only hook points between bring-up steps: the fault-injection suite
 * (test/runtime/faults.e2e.test.ts) kills the agent exactly there, instead of guessing with sleeps.
 * Production agents pass none. `point` is `<step>:begun` (its journal entry written, nothing done
 * yet) or `<step>:done` (its result written: the boundary before the next stage). A stage's "done"
 * is written with the next stage's "begun" (runner.ts), so at `<step>:done` the next stage's steps
 * read as begun already: a new agent undoes them, which finds nothing of them.
 */
import type { Effect } from "effect"

export interface StepHooks {
  readonly at: (pod: string, point: string) => Effect.Effect<void>
}
