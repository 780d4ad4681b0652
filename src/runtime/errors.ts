/** The Runtime's typed failures (the port re-exports them). */
import { Schema } from "effect"

const Failure = Schema.Struct({ step: Schema.String, message: Schema.String })

export const describeFailures = (failures: ReadonlyArray<typeof Failure.Type>) =>
  failures.map((f) => `${f.step}: ${f.message}`).join("; ")

/**
 * Bring-up failed at a named step; every step begun was undone. What the undo could not do is in
 * `cleanup` (and said in the message), beside the original cause.
 */
export class SetupFailed extends Schema.TaggedError<SetupFailed>()("SetupFailed", {
  pod: Schema.String,
  /** e.g. "pull", "rootfs", "network", "cgroup", "mount_proc", "execve" */
  step: Schema.String,
  message: Schema.String,
  errno: Schema.optional(Schema.Number),
  cleanup: Schema.optional(Schema.Array(Failure))
}) {}

/** A teardown ran every release; these are the ones that failed (what may be left behind). */
export class TeardownFailed extends Schema.TaggedError<TeardownFailed>()("TeardownFailed", {
  pod: Schema.String,
  failures: Schema.Array(Failure)
}) {
  override get message() {
    return `teardown of pod ${this.pod} left something behind: ${describeFailures(this.failures)}`
  }
}
