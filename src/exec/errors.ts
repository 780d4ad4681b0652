/**
 * Typed failures of exec and attach. Each names the pod (and container) and says why, so the CLI can
 * print one clear line and pick docker's exit code (125 = could not start, 126/127 = not runnable).
 */
import { Schema } from "effect"
import { busyReason } from "../runtime/helper/errors.js"

/** The pod has no live workload: no run record, its monitor is gone, or the workload exited. */
export class NotRunning extends Schema.TaggedError<NotRunning>()("NotRunning", {
  pod: Schema.String,
  container: Schema.optional(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    return `pod ${this.pod}${this.container ? ` (container ${this.container})` : ""} is not running: ${this.reason}`
  }
}

/**
 * The container's monitor kept refusing the connection: every slot it offers was taken (someone
 * holds them) for as long as we retried. The pod is running; its monitor is busy.
 */
export class PodMonitorBusy extends Schema.TaggedError<PodMonitorBusy>()("PodMonitorBusy", {
  pod: Schema.String,
  container: Schema.String,
  slots: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `monitor of pod ${this.pod} (container ${this.container}) is busy: ${busyReason(this.slots)}; ` +
      `gave up retrying`
  }
}

export class ContainerNotFound extends Schema.TaggedError<ContainerNotFound>()("ContainerNotFound", {
  pod: Schema.String,
  container: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `pod ${this.pod} has no container ${this.container} (it has: ${this.available.join(", ")})`
  }
}

/** attach needs a `tty: true` container: a pipe-based workload has no terminal to take over. */
export class NotATty extends Schema.TaggedError<NotATty>()("NotATty", {
  pod: Schema.String,
  container: Schema.String
}) {
  override get message(): string {
    return `container ${this.container} of pod ${this.pod} has no terminal (tty: false); use exec, or logs`
  }
}

/** The monitor serves one attacher at a time. */
export class AlreadyAttached extends Schema.TaggedError<AlreadyAttached>()("AlreadyAttached", {
  pod: Schema.String,
  container: Schema.String
}) {
  override get message(): string {
    return `someone is already attached to container ${this.container} of pod ${this.pod}; ` +
      `they can detach with Ctrl-P Ctrl-Q`
  }
}

/**
 * `tank-helper enter` failed before the command ran: `step` and `errno` are the helper's
 * (PROTOCOL.md §9). `exitCode` is docker's: 125 entering failed, 126 not runnable, 127 not found.
 */
export class EnterFailed extends Schema.TaggedError<EnterFailed>()("EnterFailed", {
  pod: Schema.String,
  container: Schema.String,
  step: Schema.String,
  errno: Schema.Number,
  message: Schema.String,
  exitCode: Schema.Number
}) {}

/** The command could not even be started on this side (spawning the helper failed). */
export class SpawnFailed extends Schema.TaggedError<SpawnFailed>()("SpawnFailed", {
  what: Schema.String,
  message: Schema.String
}) {}
