/**
 * What `tank-helper enter` is asked to do for an exec (pure): the workload's pid and start time
 * (against pid reuse), the container's cgroups, identity and capabilities, its resolved env and
 * working dir — the same as the workload's, like `docker exec` — and how to read the helper's
 * failure from its exit status and stderr.
 */
import { Either, Schema } from "effect"
import { DEFAULT_CAPABILITIES } from "../runtime/helper/defaults.js"
import type { EnterOptions } from "../runtime/helper/enter.js"
import { HelperFailure } from "../runtime/helper/schema.js"
import type { ContainerRecord } from "../runtime/record.js"
import { type EnvInput, execEnv } from "./env.js"

export interface ExecContext {
  readonly cwd?: string | undefined
  readonly env?: EnvInput | undefined
  readonly tty: boolean
  /** Another identity than the workload's (`exec -u`, `cp` as root): ids as the container sees them. */
  readonly user?: ExecUser | undefined
}

export interface ExecUser {
  readonly uid: number
  readonly gid: number
  readonly groups: ReadonlyArray<number>
}

/**
 * The enter options for `argv` beside container `c`: the workload's own capabilities, no_new_privs,
 * seccomp program and rlimits, from the pod record (like `docker exec`). `--caps` with the
 * container's list ends as the workload's does after execve (a non-root uid keeps none: no ambient
 * set, no file caps). Records written before these settings existed get the old defaults: docker's
 * capability list, no filter.
 */
export const enterOptionsFor = (c: ContainerRecord, argv: ReadonlyArray<string>, ctx: ExecContext): EnterOptions => ({
  pid: c.pid,
  startTime: c.startTime,
  argv,
  env: execEnv(c.env, { tty: ctx.tty, env: ctx.env }),
  cwd: ctx.cwd ?? c.cwd,
  uid: ctx.user?.uid ?? c.uid,
  gid: ctx.user?.gid ?? c.gid,
  groups: ctx.user?.groups ?? c.groups,
  capabilities: c.security?.capabilities ?? DEFAULT_CAPABILITIES,
  noNewPrivileges: c.security?.noNewPrivileges ?? false,
  ...(c.security?.seccomp !== undefined ? { seccomp: c.security.seccomp } : {}),
  ...(c.security ? { rlimits: c.security.rlimits } : {}),
  cgroupProcs: c.cgroupProcs,
  tty: ctx.tty
})

export interface HelperError {
  readonly step: string
  readonly errno: number
  readonly message: string
}

const decodeFailure = Schema.decodeUnknownEither(Schema.parseJson(HelperFailure))

/**
 * The helper's own failure, if that is why it exited: status 125 (entering failed), 126 (setup or
 * not executable) or 127 (not found) AND its JSON error as the last line of stderr. A command that
 * itself exits 127 prints no such line, so it is reported as its own exit code.
 */
export const helperFailure = (exitCode: number | null, stderrTail: string): HelperError | undefined => {
  if (exitCode === null || exitCode < 125 || exitCode > 127) return undefined
  const lines = stderrTail.replace(/\r/g, "").split("\n").map((l) => l.trim()).filter(Boolean)
  const last = lines[lines.length - 1]
  if (last === undefined) return undefined
  const r = decodeFailure(last)
  return Either.isRight(r) ? r.right.error : undefined
}

/** Keeps the last `max` bytes of a stream as text (enough for the helper's one error line). */
export class Tail {
  private buf = Buffer.alloc(0)
  constructor(private readonly max = 4096) {}
  push(chunk: Uint8Array): void {
    const merged = Buffer.concat([this.buf, chunk])
    this.buf = merged.length > this.max ? merged.subarray(merged.length - this.max) : merged
  }
  get text(): string {
    return this.buf.toString("utf8")
  }
}
