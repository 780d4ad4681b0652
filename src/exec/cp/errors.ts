/** Typed failures of `cp`: each names the path (or archive entry) and what was wrong with it. */
import { Schema } from "effect"

/** An entry of the archive a pod sent that would land outside the destination or write through a link. */
export class CpRefused extends Schema.TaggedError<CpRefused>()("CpRefused", {
  entry: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `refused entry ${JSON.stringify(this.entry)} of the archive from the pod: ${this.reason}; ` +
      `the copy was stopped`
  }
}

/** docker cp's rules forbid this copy (a directory onto a file, a missing `dir/` ...). */
export class CpInvalid extends Schema.TaggedError<CpInvalid>()("CpInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/** tar (or the path check) inside the pod failed: its exit status and what it said. */
export class CpPodFailed extends Schema.TaggedError<CpPodFailed>()("CpPodFailed", {
  pod: Schema.String,
  container: Schema.String,
  path: Schema.String,
  exitCode: Schema.Number,
  stderr: Schema.String
}) {
  override get message(): string {
    const said = this.stderr.trim().split("\n").filter(Boolean).slice(-3).join("; ")
    return `copy in pod ${this.pod} (container ${this.container}) at ${this.path} failed ` +
      `(exit ${this.exitCode})${said ? `: ${said}` : ""}`
  }
}

/** Reading or writing the local side failed. */
export class CpLocalFailed extends Schema.TaggedError<CpLocalFailed>()("CpLocalFailed", {
  path: Schema.String,
  message: Schema.String
}) {}
