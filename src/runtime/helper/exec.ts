/**
 * Running the helper's short-lived modes (monitor start, sandbox, sandbox-remove) and reading the
 * one JSON line they print. Node never forks itself; the helper does.
 */
import { Effect, Either, Schema } from "effect"
import { spawn } from "node:child_process"
import { HelperProtocolError, MonitorSetupFailed } from "./errors.js"
import { HelperFailure } from "./schema.js"

export interface LineResult {
  readonly line: string
  readonly code: number | null
  readonly stderr: string
}

/** Spawn `helper args...`, resolve with its first stdout line once it exits (or the line arrives). */
export const runForLine = (
  helper: string,
  args: ReadonlyArray<string>
): Effect.Effect<LineResult, HelperProtocolError> =>
  Effect.async<LineResult, HelperProtocolError>((resume) => {
    const child = spawn(helper, [...args], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d))
    child.on("error", (e) =>
      resume(Effect.fail(new HelperProtocolError({ expected: "helper to start", received: String(e) }))))
    child.on("close", (code) =>
      resume(Effect.succeed({ line: out.split("\n")[0] ?? "", code, stderr: err })))
  })

/** Decode the line as `ok` or as the helper's `{"error": ...}`, which becomes MonitorSetupFailed. */
export const decodeLine = <A, I>(
  schema: Schema.Schema<A, I>,
  expected: string,
  r: LineResult
): Effect.Effect<A, HelperProtocolError | MonitorSetupFailed> => {
  let json: unknown
  try {
    json = JSON.parse(r.line)
  } catch {
    return Effect.fail(new HelperProtocolError({ expected, received: r.line || `exit ${r.code} ${r.stderr}` }))
  }
  const failure = Schema.decodeUnknownEither(HelperFailure)(json)
  if (Either.isRight(failure)) return Effect.fail(new MonitorSetupFailed(failure.right.error))
  return Schema.decodeUnknown(schema)(json).pipe(
    Effect.mapError(() => new HelperProtocolError({ expected, received: r.line }))
  )
}
