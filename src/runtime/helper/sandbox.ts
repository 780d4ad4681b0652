/**
 * A pod sandbox: fresh net/uts/ipc namespaces pinned as bind mounts under `dir` (like `ip netns`),
 * with `lo` up and the hostname set. Containers join them with `{ join: result.net }`.
 */
import { Effect, Schema } from "effect"
import { helperPath } from "./binary.js"
import type { HelperNotBuilt, HelperProtocolError, MonitorSetupFailed } from "./errors.js"
import { decodeLine, runForLine } from "./exec.js"
import { SandboxResult } from "./schema.js"
import type { RunLine } from "./spawner.js"

export interface SandboxOptions {
  readonly dir: string
  readonly net?: boolean
  readonly uts?: boolean
  readonly ipc?: boolean
  readonly hostname?: string
  /**
   * A user namespace first (hostUsers: false), owning the others: container ids 0..size-1 are host
   * ids hostUid.. / hostGid.. . Pinned as `dir/user`.
   */
  readonly userns?: { readonly hostUid: number; readonly hostGid: number; readonly size: number }
}

export const sandboxArgs = (o: SandboxOptions): ReadonlyArray<string> => [
  "sandbox",
  "--dir",
  o.dir,
  ...(o.net ? ["--net"] : []),
  ...(o.uts ? ["--uts"] : []),
  ...(o.ipc ? ["--ipc"] : []),
  ...(o.hostname !== undefined ? ["--hostname", o.hostname] : []),
  ...(o.userns
    ? ["--uid-map", `0:${o.userns.hostUid}:${o.userns.size}`, "--gid-map", `0:${o.userns.hostGid}:${o.userns.size}`]
    : [])
]

export const sandbox = (
  o: SandboxOptions,
  run: RunLine = runForLine
): Effect.Effect<SandboxResult, HelperNotBuilt | HelperProtocolError | MonitorSetupFailed> =>
  Effect.flatMap(
    helperPath,
    (helper) => run(helper, sandboxArgs(o)).pipe(Effect.flatMap((r) => decodeLine(SandboxResult, "sandbox result", r)))
  )

/** Unmount the pins and remove `dir`; idempotent (a missing sandbox is fine). */
export const removeSandbox = (
  dir: string
): Effect.Effect<void, HelperNotBuilt | HelperProtocolError | MonitorSetupFailed> =>
  Effect.flatMap(helperPath, (helper) =>
    runForLine(helper, ["sandbox-remove", "--dir", dir]).pipe(
      Effect.flatMap((r) => decodeLine(Schema.Struct({ ok: Schema.Literal(true) }), "sandbox-remove result", r)),
      Effect.asVoid
    ))

/** Create a sandbox for the scope's lifetime. */
export const scopedSandbox = (o: SandboxOptions) =>
  Effect.acquireRelease(sandbox(o), () => Effect.orDie(removeSandbox(o.dir)))
