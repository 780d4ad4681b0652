/**
 * The entry of `dist/quick-exec.cjs` (scripts/build.mjs), which bin/tank starts for `tank exec`: the
 * quick path's exec lines (quick.ts) from a bundle holding the config, the exec client and runExec,
 * without @effect/cli's command tree or the Store. Other lines, TANK_NO_QUICK=1, cluster mode (the
 * pod's node is looked up in the store) and a config error run the full CLI (fullCli.ts).
 * Like quickPs.ts, this graph must not import() a module of its own.
 */
import { Effect, Either } from "effect"
import * as Exec from "../exec/Exec.js"
import { loadConfigAt } from "./base.js"
import { runExec } from "./execRun.js"
import { runFullCli } from "./fullCli.js"
import { quickLine } from "./quick.js"
import { finish, runCommand } from "./run.js"

const main = async () => {
  const line = process.env.TANK_NO_QUICK === "1" ? undefined : quickLine(process.argv.slice(2))
  if (line?._tag !== "exec") return runFullCli()
  const config = await Effect.runPromise(Effect.either(loadConfigAt(line.options.dataDir)))
  if (Either.isLeft(config) || config.right.etcd !== undefined) return runFullCli()
  runCommand(finish(runExec(line.options, { Exec, config: config.right })))
}

void main()
