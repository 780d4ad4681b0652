/**
 * Host devices a pod asks for (`containers[].devices[].path`) must exist on the host and be a
 * character or block device. Checked when a pod is applied on the machine that runs it (single
 * machine: the client's host is the agent's) and, authoritatively, when the agent brings it up.
 */
import { Either } from "effect"
import * as fs from "node:fs"
import type { Pod } from "../spec/Pod.js"

const kind = (st: fs.Stats) =>
  st.isDirectory()
    ? "directory"
    : st.isFile()
    ? "regular file"
    : st.isFIFO()
    ? "FIFO"
    : st.isSocket()
    ? "socket"
    : "special file"

/** The host node's stat, or why it cannot be passed through. Follows symlinks (/dev/dri/by-path/...). */
export const statDevice = (p: string): Either.Either<fs.Stats, string> => {
  let st: fs.Stats
  try {
    st = fs.statSync(p)
  } catch (e) {
    return Either.left(`${p} does not exist on this host (${(e as NodeJS.ErrnoException).code})`)
  }
  return st.isCharacterDevice() || st.isBlockDevice()
    ? Either.right(st)
    : Either.left(`${p} is not a device (a ${kind(st)})`)
}

/** Apply-time check: one issue per device the host cannot give. */
export const hostDeviceIssues = (pod: Pod): ReadonlyArray<{ readonly path: string; readonly message: string }> =>
  [
    ...pod.initContainers.map((c, i) => ({ c, at: `initContainers[${i}]` })),
    ...pod.containers.map((c, i) => ({ c, at: `containers[${i}]` }))
  ].flatMap(({ at, c }) =>
    (c.devices ?? []).flatMap((d, j) =>
      Either.match(statDevice(d.path), {
        onLeft: (message) => [{ path: `${at}.devices[${j}].path`, message }],
        onRight: () => []
      })
    )
  )
