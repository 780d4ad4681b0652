/**
 * NODE_EXTRA_CA_CERTS and `tank exec`'s quick path. Node reads and parses that whole file as it starts,
 * before any code of ours runs (~40 ms on the bench VM, whose variable names the distribution's bundle
 * of 144 certificates: more than node's own start without it), for TLS connections an exec never makes
 * (its quick path reads files, asks the pod's monitor on a unix socket and spawns the helper). So
 * bin/tank starts exec's blob without it, keeping its value in TANK_EXEC_EXTRA_CA_CERTS. A line the
 * quick path hands to the full CLI connects over TLS only in cluster mode (etcd), and Node 20 cannot
 * add CA certificates to a running process: a line that may run in cluster mode runs in a child with
 * the variable given back (fullCliChild.ts); any other (help, `-e`, a local config error) in this
 * process, as before.
 */
import * as path from "node:path"

/** Where bin/tank keeps NODE_EXTRA_CA_CERTS for exec's quick process. */
export const MOVED_EXTRA_CA_CERTS = "TANK_EXEC_EXTRA_CA_CERTS"

/**
 * Where bin/tank keeps it for ps's lite tier (src/cli/quickPsLite.ts), which makes no connection at
 * all. A line it hands over goes to the heavy tier (its child), given the variable back only if the
 * line may reach etcd (`handOverEnv`): the heavy tier reads the local store as the lite one does, and
 * paying the parse there made the first ps after a change ~35 ms slower than before the tiers. The
 * heavy tier in turn runs a line it leaves to the full CLI in a child with the variable back when
 * that line may reach etcd (quickPs.ts), else in its own process.
 */
export const MOVED_PS_EXTRA_CA_CERTS = "TANK_PS_EXTRA_CA_CERTS"

/**
 * `env` with NODE_EXTRA_CA_CERTS given back from `from` (exec's variable by default), or undefined
 * when bin/tank did not move it. Pure.
 */
export const withExtraCaCertsBack = (
  env: NodeJS.ProcessEnv,
  from: string = MOVED_EXTRA_CA_CERTS
): NodeJS.ProcessEnv | undefined => {
  const moved = env[from]
  if (moved === undefined) return undefined
  const back: NodeJS.ProcessEnv = { ...env, NODE_EXTRA_CA_CERTS: moved }
  delete back[from]
  return back
}

/**
 * The environment for the process a quick bundle hands `args` to, bin/tank having moved
 * NODE_EXTRA_CA_CERTS into `from`: the variable given back only when the line may reach etcd over
 * TLS (`mayUseEtcd`); otherwise it stays aside (in `from`) for that process too. Pure but for `exists`.
 */
export const handOverEnv = (
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  from: string,
  defaultDir: string,
  exists: (file: string) => boolean
): NodeJS.ProcessEnv => (mayUseEtcd(args, env, defaultDir, exists) ? withExtraCaCertsBack(env, from) : undefined) ?? env

/**
 * Whether the full CLI could run `args` in cluster mode (connecting to etcd), as Config.ts `load`
 * decides it — only with an etcd endpoint in the environment or a config file: TANK_CONFIG's, or a
 * config.yaml in the data dir. Conservative: every data dir the line could mean (the default one,
 * TANK_DATA_DIR's, each named after a --data-dir) is looked at. Pure but for `exists`.
 */
export const mayUseEtcd = (
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  defaultDir: string,
  exists: (file: string) => boolean
): boolean => {
  if (env.TANK_ETCD_ENDPOINTS || env.TANK_CONFIG) return true
  const dirs = [defaultDir, ...(env.TANK_DATA_DIR ? [env.TANK_DATA_DIR] : [])]
  args.forEach((word, i) => {
    if (word === "--data-dir" && i + 1 < args.length) dirs.push(args[i + 1]!)
    else if (word.startsWith("--data-dir=")) dirs.push(word.slice("--data-dir=".length))
  })
  return dirs.some((dir) => exists(path.join(path.resolve(dir), "config.yaml")))
}
