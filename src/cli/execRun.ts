/**
 * What `tank exec` does once its options are parsed: run a command in a running pod and pass its exit
 * status through (125 could not enter, 126 not executable, 127 not found, like docker). Free of
 * @effect/cli: exec.ts (the full CLI's command) and quick.ts (the quick entry) both run `runExec`.
 */
import { Effect, Layer, Option } from "effect"
import { TankConfig, type TankConfigShape } from "../config/Config.js"
import type * as ExecClient from "../exec/Exec.js"
import { CliExit, ensureOnThisNode, loadConfigAt } from "./base.js"

/** Could not enter the pod (docker's 125). */
export const EXIT_ENTER_FAILED = 125

/** `exited n` → n, `signaled s` → 128 + s (as shells report it). */
export const exitCodeOf = (r: { readonly exited: number } | { readonly signaled: number }) =>
  "exited" in r ? r.exited : 128 + r.signaled

/** exec/attach failures as `tank: message` and docker's codes. */
export const enterFailure = (e: { readonly _tag: string; readonly message: string; readonly exitCode?: number }) =>
  new CliExit({
    code: e._tag === "EnterFailed" && e.exitCode !== undefined ? e.exitCode : EXIT_ENTER_FAILED,
    message: e._tag === "EnterFailed" ? `exec failed: ${e.message}` : e.message
  })

/** A pod on another node (cluster mode) could not be entered from here: 125 with the node named. */
export const otherNodeFailure = (e: unknown) =>
  typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "PodOnOtherNode"
    ? new CliExit({ code: EXIT_ENTER_FAILED, message: (e as { message: string }).message })
    : e

export const withConfigLayer = (config: TankConfigShape) => Layer.succeed(TankConfig, config)

/** The exec client module (imported when exec runs; the quick bundle passes it in: quickExec.ts). */
export type ExecModule = typeof ExecClient

/** The options of `tank exec`, the data dir already resolved (absolute; none: the config's default). */
export interface ExecOptions {
  readonly dataDir: Option.Option<string>
  readonly interactive: boolean
  readonly tty: boolean
  readonly container: Option.Option<string>
  readonly env: Option.Option<Iterable<readonly [string, string]>>
  readonly user: Option.Option<string>
  readonly workdir: Option.Option<string>
  readonly pod: string
  readonly command: ReadonlyArray<string>
}

export const runExec = (
  { command, container, dataDir, env, interactive, pod, tty, user, workdir }: ExecOptions,
  loaded?: { readonly Exec: ExecModule; readonly config: TankConfigShape }
) =>
  Effect.gen(function*() {
    if (tty && !process.stdin.isTTY) {
      return yield* new CliExit({ code: 1, message: "-t needs a terminal on stdin (drop -t to pipe)" })
    }
    const config = loaded?.config ?? (yield* loadConfigAt(dataDir))
    yield* ensureOnThisNode(config, [pod]).pipe(Effect.mapError(otherNodeFailure))
    const Exec = loaded?.Exec ?? (yield* Effect.promise(() => import("../exec/Exec.js")))
    const configLayer = withConfigLayer(config)
    const result = yield* Exec.exec(pod, command, {
      tty,
      ...(Option.isSome(container) ? { container: container.value } : {}),
      ...(Option.isSome(env) ? { env: Object.fromEntries(env.value) } : {}),
      ...(Option.isSome(workdir) ? { cwd: workdir.value } : {}),
      ...(Option.isSome(user) ? { user: user.value } : {}),
      // Without -i the command reads EOF at once (docker's default), not our stdin.
      ...(interactive || tty ? {} : { stdin: "eof" as const })
    }).pipe(Effect.provide(configLayer), Effect.mapError(enterFailure))
    const code = exitCodeOf(result)
    if (code !== 0) return yield* new CliExit({ code })
  })
