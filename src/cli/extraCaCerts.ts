/**
 * NODE_EXTRA_CA_CERTS and `tank exec`'s quick path. Node reads and parses that whole file as it starts,
 * before any code of ours runs (~40 ms on the bench VM, whose variable names the distribution's bundle
 * of 144 certificates: more than node's own start without it), for TLS connections an exec never makes
 * (its quick path reads files, asks the pod's monitor on a unix socket and spawns the helper). So
 * bin/tank starts exec's blob without it, keeping its value in TANK_EXEC_EXTRA_CA_CERTS. A line the
 * quick path hands to the full CLI may connect over TLS (cluster mode: etcd) and Node 20 cannot add
 * CA certificates to a running process: such a line runs in a child with the variable given back
 * (fullCliChild.ts).
 */

/** Where bin/tank keeps NODE_EXTRA_CA_CERTS for exec's quick process. */
export const MOVED_EXTRA_CA_CERTS = "TANK_EXEC_EXTRA_CA_CERTS"

/** `env` with NODE_EXTRA_CA_CERTS given back, or undefined when bin/tank did not move it. Pure. */
export const withExtraCaCertsBack = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined => {
  const moved = env[MOVED_EXTRA_CA_CERTS]
  if (moved === undefined) return undefined
  const back: NodeJS.ProcessEnv = { ...env, NODE_EXTRA_CA_CERTS: moved }
  delete back[MOVED_EXTRA_CA_CERTS]
  return back
}
