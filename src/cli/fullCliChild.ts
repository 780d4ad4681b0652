/**
 * The full CLI in a child process, for a line exec's quick bundle (or ps's heavy tier) hands on after bin/tank started it
 * without NODE_EXTRA_CA_CERTS (extraCaCerts.ts): the child gets `env` (the variable given back) and
 * this process's stdio, and this process ends as the child did (its exit code; killed by a signal:
 * the same signal), so the caller sees one command. Runs tank.cjs through load.cjs, as fullCli.ts does
 * in-process, under --no-opt when this process has it (load.cjs then takes the same code cache an
 * in-process hand-over would).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { defaultDataDir } from "../config/locate.js"
import { handOverEnv, withExtraCaCertsBack } from "./extraCaCerts.js"
import { runFullCli } from "./fullCli.js"

/**
 * The full CLI on this process's line, for a quick bundle bin/tank may have started with
 * NODE_EXTRA_CA_CERTS kept aside in `from` (exec's, or ps's heavy tier under the lite one): in a
 * child given the variable back when the line may reach etcd over TLS (`cluster`: it is known to),
 * else in this process.
 */
export const runFullCliFor = (from: string, cluster = false): void => {
  const env = cluster
    ? withExtraCaCertsBack(process.env, from) ?? process.env
    : handOverEnv(process.argv.slice(2), process.env, from, defaultDataDir(), fs.existsSync)
  return env === process.env ? runFullCli() : runFullCliInChild(env)
}

export const runFullCliInChild = (env: NodeJS.ProcessEnv): void => {
  const flags = process.execArgv.includes("--no-opt") ? ["--no-opt"] : []
  // As fullCli.ts loads it: load.cjs, beside this bundle, runs tank.cjs. argv[1] names tank.cjs, as
  // if it were the script (the CLI reads its line from argv[2] on).
  const load = `require(${JSON.stringify(path.join(__dirname, "load.cjs"))})("tank.cjs")`
  const argv = [...flags, "-e", load, path.join(__dirname, "tank.cjs"), ...process.argv.slice(2)]
  const child = spawn(process.execPath, argv, { stdio: "inherit", env })
  // A terminal sends SIGINT/SIGQUIT to its whole foreground group, the child included: this process
  // stays to report how the child ended. SIGTERM/SIGHUP sent to this process alone are passed on.
  const ignore = () => {}
  const pass = (signal: NodeJS.Signals) => () => child.kill(signal)
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ["SIGINT", ignore],
    ["SIGQUIT", ignore],
    ["SIGTERM", pass("SIGTERM")],
    ["SIGHUP", pass("SIGHUP")]
  ]
  for (const [signal, handler] of handlers) process.on(signal, handler)
  child.on("error", (e) => {
    process.stderr.write(`tank: cannot run the full CLI: ${e.message}\n`)
    process.exit(1)
  })
  child.on("exit", (code, signal) => {
    for (const [s, handler] of handlers) process.removeListener(s, handler)
    if (signal === null) return process.exit(code ?? 1)
    // The same death as the child's; a signal this process ignores (SIGPIPE) still ends it, as a shell
    // reports one (128 + n).
    process.kill(process.pid, signal)
    setImmediate(() => process.exit(128 + (os.constants.signals[signal] ?? 0)))
  })
}
