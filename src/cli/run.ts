/**
 * How a command line runs to its exit code, for the full CLI (main.ts) and the quick entry (quick.ts)
 * alike: errors become `tank: message` on stderr and an exit code (usage errors, already printed by
 * @effect/cli, exit 2); log lines go to stderr; stdout and stderr are flushed before the process may
 * exit (a command has succeeded only once all of its output reached the reader).
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Logger, Option } from "effect"
import { printableText } from "../spec/printable.js"
import { CliExit, ExitCode } from "./base.js"
import { withRunServices } from "./runServices.js"
import { EXIT_CLOSED_PIPE, flush, guard, isOutputClosed, write } from "./stdio.js"

/** `2026-11-23T13:26:42.682Z INFO message key=value`, one line per entry, on stderr. */
const stderrLogger = /* @__PURE__ */ Logger.make(({ annotations, cause, date, logLevel, message }) => {
  const text = (Array.isArray(message) ? message : [message]).map((m) => typeof m === "string" ? m : JSON.stringify(m))
  const extra = [...annotations].map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
  const why = Cause.isEmpty(cause) ? "" : `\n${Cause.pretty(cause)}`
  process.stderr.write(
    printableText(`${date.toISOString()} ${logLevel.label} ${[...text, ...extra].join(" ")}${why}\n`)
  )
})

const messageOf = (e: unknown): string =>
  e instanceof Error || (typeof e === "object" && e !== null && "message" in e)
    ? String((e as { message: unknown }).message)
    : String(e)

/** The exit code of a failed command, its message (if any) written to stderr. */
const failure = (e: unknown): Effect.Effect<number> => {
  // The reader left (`| head`): quiet, and a success (stdio.ts).
  if (isOutputClosed(e)) return Effect.succeed(EXIT_CLOSED_PIPE)
  const say = (message: string | undefined, code: number) =>
    // Messages may quote names and values from the input or the store: never raw to the terminal.
    message
      ? Effect.as(Effect.ignore(write("stderr", printableText(`tank: ${message}\n`))), code)
      : Effect.succeed(code)
  if (e instanceof CliExit) return say(e.message, e.code)
  if (ValidationError.isValidationError(e)) return Effect.succeed(ExitCode.usage)
  return say(messageOf(e), ExitCode.error)
}

/** The command's outcome as its exit code: ok, or a CliExit carrying the code (its message written). */
export const finish = <R>(command: Effect.Effect<unknown, unknown, R>): Effect.Effect<void, CliExit, R> =>
  command.pipe(
    Effect.zipRight(flush("stdout")),
    Effect.as<number>(ExitCode.ok),
    Effect.catchAll(failure),
    Effect.tap(() => Effect.all([Effect.ignore(flush("stdout")), Effect.ignore(flush("stderr"))])),
    Effect.flatMap((code) => code === ExitCode.ok ? Effect.void : Effect.fail(new CliExit({ code }))),
    // Log lines go to stderr (stdout is for results); runMain's own pretty logger is disabled below.
    Effect.provide(Logger.replace(Logger.defaultLogger, stderrLogger))
  )

/**
 * Runs a finished command (`finish`) as the process: its exit code is the process's. `exitWhenDone`
 * (a command that leaves nothing running, its output flushed by `finish`): exit at once on success
 * instead of letting Node wind down its loop and heap (~10-15 ms of a short command's wall time).
 */
export const runCommand = (
  program: Effect.Effect<void, CliExit>,
  options: { readonly exitWhenDone?: boolean } = {}
) => {
  // Write errors (EPIPE from `| head`) are recorded and reported by stdio.ts, never thrown by Node.
  guard("stdout")
  guard("stderr")

  NodeRuntime.runMain(withRunServices(program), {
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) {
        if (options.exitWhenDone && Exit.isSuccess(exit)) process.exit(ExitCode.ok)
        onExit(ExitCode.ok)
        // exec/attach may leave stdin flowing; nothing else should keep a finished command alive.
        setTimeout(() => process.exit(ExitCode.ok), 100).unref()
        return
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure) && failure.value instanceof CliExit) return onExit(failure.value.code)
      process.stderr.write(printableText(`tank: internal error\n${Cause.pretty(exit.cause)}\n`))
      onExit(ExitCode.error)
    }
  })
}
