/**
 * Network namespaces from Node's main thread.
 *
 * setns(CLONE_NEWNET) is allowed on a multi-threaded process (unlike mount and user namespaces) and only
 * moves the calling thread. A socket keeps the namespace it was created in. So a socket for a pod is made
 * by: setns into the pod's netns, socket(), setns back, all synchronously so no other JavaScript (and no
 * other socket creation) runs on the main thread while it sits in the foreign namespace.
 */
import { Effect, type Scope } from "effect"
import { libc as sys } from "../host/libc.js"
import { check, RtnlSocket, SysError } from "./netlink.js"

const O_RDONLY = 0
const O_CLOEXEC = 0x80000
const CLONE_NEWNET = 0x40000000

/** Opens a netns file (a pin such as /run/netns/x, <run>/ns/net, or /proc/<pid>/ns/net). */
export const openNetnsFd = (path: string): number => check(`open(${path})`, sys.open(path, O_RDONLY | O_CLOEXEC))

/** Runs `f` with the main thread in the namespace `nsFd`, and always returns to the namespace it came from. */
export const inNetns = <A>(nsFd: number, f: () => A): A => {
  const home = openNetnsFd("/proc/thread-self/ns/net")
  try {
    check("setns(CLONE_NEWNET)", sys.setns(nsFd, CLONE_NEWNET))
    try {
      return f()
    } finally {
      // Failing to come back would leave every later socket of this process in the pod's namespace:
      // there is no sane way to continue.
      if (Number(sys.setns(home, CLONE_NEWNET)) !== 0) {
        process.stderr.write("tank: fatal: cannot return to the agent's network namespace\n")
        process.abort()
      }
    }
  } finally {
    sys.close(home)
  }
}

/** Opens an rtnetlink socket in the namespace at `path` (undefined: the agent's own namespace). */
export const openSocketIn = (path: string | undefined): RtnlSocket => {
  if (path === undefined) return RtnlSocket.open()
  const fd = openNetnsFd(path)
  try {
    return inNetns(fd, () => RtnlSocket.open())
  } finally {
    sys.close(fd)
  }
}

/** A scoped rtnetlink socket in the namespace of an open netns fd. */
export const rtnlSocketInFd = (nsFd: number): Effect.Effect<RtnlSocket, SysError, Scope.Scope> =>
  Effect.acquireRelease(attempt(() => inNetns(nsFd, () => RtnlSocket.open())), (s) => Effect.sync(() => s.close()))

/** Runs a synchronous syscall-ish function: SysError becomes a failure, anything else a defect. */
export const attempt = <A>(f: () => A): Effect.Effect<A, SysError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (e) {
      return e instanceof SysError ? Effect.fail(e) : Effect.die(e)
    }
  })

/** A scoped netns fd (kept open while links are created into it with IFLA_NET_NS_FD). */
export const netnsFd = (path: string): Effect.Effect<number, SysError, Scope.Scope> =>
  Effect.acquireRelease(
    attempt(() => openNetnsFd(path)),
    (fd) => Effect.sync(() => sys.close(fd))
  )

/** A scoped rtnetlink socket in the namespace at `path` (undefined: the agent's own). */
export const rtnlSocket = (path: string | undefined): Effect.Effect<RtnlSocket, SysError, Scope.Scope> =>
  Effect.acquireRelease(
    attempt(() => openSocketIn(path)),
    (s) => Effect.sync(() => s.close())
  )
