/**
 * A container's security settings, resolved at bring-up from its spec and this host: capability
 * sets, no_new_privs, the compiled seccomp program, rlimits and passed-through devices. The
 * workload's monitor gets them (monitors.ts) and the pod record keeps them, so every `exec` into
 * the container runs under exactly the same ones (docker exec does the same).
 */
import { Effect, Schema } from "effect"
import type { Container } from "../../spec/Pod.js"
import type { RlimitName } from "../../spec/security.js"
import { Rlimit as HelperRlimit } from "../helper/schema.js"
import { containerCapabilities } from "./capabilities.js"
import { DeviceProblem, passDevices, type PassedDevice } from "./devices.js"
import { containerRlimits } from "./rlimits.js"
import { SeccompFailed, seccompProgram } from "./seccompProgram.js"

/** What exec needs again: kept in the pod record (record.ts). */
export const ContainerSecurity = Schema.Struct({
  /** CAP_ names: the bounding set (and effective/permitted for root). */
  capabilities: Schema.Array(Schema.String),
  noNewPrivileges: Schema.Boolean,
  /** The compiled seccomp program; absent = unconfined. */
  seccomp: Schema.optional(Schema.String),
  rlimits: Schema.Array(HelperRlimit)
})
export type ContainerSecurity = typeof ContainerSecurity.Type

export interface ResolvedSecurity extends ContainerSecurity {
  readonly devices: ReadonlyArray<PassedDevice>
}

export interface SecurityContext {
  readonly dataDir: string
  /** The agent's own hard rlimits (defaults are capped by them). */
  readonly hostHard: Partial<Record<RlimitName, number>>
}

/** `field`: where the container sits in the spec ("containers[1]"), for errors. */
export const resolveSecurity = (
  ctx: SecurityContext,
  c: Container,
  field: string
): Effect.Effect<ResolvedSecurity, SeccompFailed | DeviceProblem> =>
  Effect.gen(function*() {
    const capabilities = containerCapabilities(c.capabilities)
    const seccomp = yield* seccompProgram(ctx.dataDir, c.seccomp, capabilities, `${field}.seccomp`)
    const devices = yield* passDevices(c.devices ?? [], `${field}.devices`)
    return {
      capabilities,
      noNewPrivileges: c.noNewPrivileges ?? true,
      ...(seccomp !== undefined ? { seccomp } : {}),
      rlimits: containerRlimits(c.rlimits, ctx.hostHard),
      devices
    }
  })

export { DeviceProblem, SeccompFailed }
