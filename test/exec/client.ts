/**
 * A Tank client in its own process, as a person runs it from a terminal: `attach <pod>` or
 * `exec <pod> -- argv...` against the data dir in TANK_DATA_DIR, with process.stdin/stdout. Tests
 * run it under node-pty. It prints its pid first and the session's result (or error) last, framed
 * by @@ so the test can find them in the terminal output.
 */
import { Effect, Either } from "effect"
import * as Config from "../../src/config/Config.js"
import { attach } from "../../src/exec/Attach.js"
import { exec } from "../../src/exec/Exec.js"

process.stdout.write(`@@PID ${process.pid}@@\r\n`)
const [mode, pod, ...rest] = process.argv.slice(2)
const argv = rest[0] === "--" ? rest.slice(1) : rest
const session: Effect.Effect<unknown, { _tag: string; message: string }, Config.TankConfig> = mode === "attach"
  ? attach(pod!)
  : exec(pod!, argv, { tty: true })
const r = await Effect.runPromise(Effect.either(Effect.provide(session, Config.layer())))
const shown = Either.isRight(r) ? r.right : { error: r.left._tag, message: r.left.message }
process.stdout.write(`\r\n@@RESULT ${JSON.stringify(shown)}@@\r\n`)
