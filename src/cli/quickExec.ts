/**
 * The entry of `dist/quick-exec.cjs` (scripts/build.mjs), from which scripts/snapshot.mjs builds
 * `dist/exec.blob`, the startup snapshot bin/tank starts `tank exec` from: the quick path's exec lines
 * (quick.ts) with the config, the exec client and runExec already evaluated (and the code an exec
 * runs compiled, by a rehearsal while the blob is built), without @effect/cli's command tree, the
 * Store or the API: ~4 MB less heap to deserialize than tank.blob at every exec. Other lines,
 * TANK_NO_QUICK=1, cluster mode (the pod's node is looked up in the store) and a config error run
 * the full CLI (fullCli.ts), which says it as every other command does; in a child process when bin/tank
 * started this one without NODE_EXTRA_CA_CERTS and the line may reach etcd over TLS (extraCaCerts.ts).
 * Like quickPs.ts, this graph must not import() a module of its own.
 */
import { Effect, Either, Schema } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import * as Exec from "../exec/Exec.js"
import { Hello, Reply } from "../runtime/helper/schema.js"
import { parseRecord } from "../runtime/record.js"
import { loadConfigAt } from "./base.js"
import { rehearsalOptions, rehearseWholeExec } from "./execRehearsal.js"
import { runExec } from "./execRun.js"
import { MOVED_EXTRA_CA_CERTS } from "./extraCaCerts.js"
import { runFullCliFor } from "./fullCliChild.js"
import { quickLine } from "./quick.js"
import { finish, runCommand } from "./run.js"
import { withRunServices } from "./runServices.js"
import { startQuick } from "./snapshotEntry.js"

/**
 * Any line but a local plain exec: the full CLI's; in a child given NODE_EXTRA_CA_CERTS back when
 * bin/tank kept it aside and the line may reach etcd over TLS (extraCaCerts.ts).
 */
const fullCli = (cluster = false) => runFullCliFor(MOVED_EXTRA_CA_CERTS, cluster)

const main = async () => {
  const line = process.env.TANK_NO_QUICK === "1" ? undefined : quickLine(process.argv.slice(2))
  if (line?._tag !== "exec") return fullCli()
  const config = await Effect.runPromise(Effect.either(loadConfigAt(line.options.dataDir)))
  if (Either.isLeft(config)) return fullCli()
  if (config.right.etcd !== undefined) return fullCli(true)
  // Once the command has ended and its output is flushed (finish), nothing of this process is left to
  // wait for: exit at once rather than let Node wind its heap down (run.ts).
  runCommand(finish(runExec(line.options, { Exec, config: config.right })), { exitWhenDone: true })
}

/**
 * While the blob is built: an exec in a data dir that does not exist (it ends at "not running",
 * having read the config and looked for the run record), so the code every exec runs (Effect's
 * runtime, the config, the lookup, the error path) is compiled in the blob; then a whole exec in a
 * pod this process plays itself (execRehearsal.ts), for the rest of a real exec's code.
 */
const rehearse = () => {
  const dataDir = path.join(os.tmpdir(), `tank-snapshot-${process.pid}-no-such-dir`)
  // The run record's and the monitor's decoders, which the rehearsal's exec does not reach (there is
  // no record): Schema builds a schema's parser at its first decode and keeps it (by the schema's
  // AST, module state), so decoding anything here builds them into the blob, not at every exec.
  parseRecord("rehearsal", "rehearsal", "{\"version\":2}\n")
  Schema.decodeUnknownEither(Reply)({})
  Schema.decodeUnknownOption(Hello)({})
  const options = rehearsalOptions(dataDir, "rehearsal")
  return Effect.runPromise(withRunServices(Effect.gen(function*() {
    const config = yield* loadConfigAt(options.dataDir)
    yield* Effect.exit(finish(runExec(options, { Exec, config })))
    yield* rehearseWholeExec
  })))
}

startQuick("exec", rehearse, main)
