/**
 * Typed failures of the native helper client. Every one names what was expected or which step
 * failed, so the Runtime can turn them into its own MonitorSetupFailed / exit causes without guessing.
 */
import { Schema } from "effect"

/** `native/tank-helper` is missing or not executable (run `npm install` or `make -C native`). */
export class HelperNotBuilt extends Schema.TaggedError<HelperNotBuilt>()("HelperNotBuilt", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `native helper not built at ${this.path} (${this.reason}); run \`make -C native\``
  }
}

/** The helper or a monitor said something the protocol does not allow here. */
export class HelperProtocolError extends Schema.TaggedError<HelperProtocolError>()("HelperProtocolError", {
  expected: Schema.String,
  received: Schema.String
}) {
  override get message(): string {
    return `helper protocol error: expected ${this.expected}, received ${this.received.slice(0, 300)}`
  }
}

/** A setup step failed (before or after the checkpoint); `step` is the helper's step name. */
export class MonitorSetupFailed extends Schema.TaggedError<MonitorSetupFailed>()("MonitorSetupFailed", {
  step: Schema.String,
  errno: Schema.Number,
  message: Schema.String
}) {}

/** The monitor's socket is gone or closed mid-request (the monitor exited or was killed). */
export class MonitorGone extends Schema.TaggedError<MonitorGone>()("MonitorGone", {
  socketPath: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `monitor at ${this.socketPath} is gone: ${this.reason}`
  }
}

/**
 * Every connection slot of the monitor is taken (PROTOCOL.md §4): the monitor is alive and well,
 * just busy. Never read this as "gone": retry, or report that the monitor is busy.
 */
export class MonitorBusy extends Schema.TaggedError<MonitorBusy>()("MonitorBusy", {
  socketPath: Schema.String,
  /** The slots the monitor offers this client (all taken); absent when unknown (connect queue full: EAGAIN). */
  slots: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `monitor at ${this.socketPath} is busy: ${busyReason(this.slots)}`
  }
}

/** "all N connection slots are taken"; without a count (a full connect queue, an older monitor) "no connection slot is free". */
export const busyReason = (slots: number | undefined): string =>
  slots === undefined ? "no connection slot is free" : `all ${slots} connection slots are taken`

/** The monitor refused a request (`code` as in PROTOCOL.md: not_parked, already_attached, exited, ...). */
export class MonitorRequestFailed extends Schema.TaggedError<MonitorRequestFailed>()("MonitorRequestFailed", {
  op: Schema.String,
  code: Schema.String,
  message: Schema.String
}) {}

export type HelperError =
  | HelperNotBuilt
  | HelperProtocolError
  | MonitorSetupFailed
  | MonitorGone
  | MonitorBusy
  | MonitorRequestFailed
