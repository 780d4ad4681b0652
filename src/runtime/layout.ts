/**
 * Where a pod's pieces live under the data dir (pure).
 *
 *   <dataDir>/run/<pod>/            scratch for one run: removed at teardown
 *     pod.json                      what a new agent needs to re-adopt the run
 *     ns/{net,uts,ipc}              the pinned pod sandbox
 *     etc/{hosts,hostname,resolv.conf}
 *     c/<container>/{upper,work,merged,monitor.json,exit.json}
 *   <dataDir>/trash/<pod>.<…>/      an undone run dir, renamed here and removed shortly after (trash.ts)
 *   <dataDir>/sock/<hash>.sock      monitor sockets (short: AF_UNIX paths hold 107 bytes)
 *   <dataDir>/agent.lock            the agent lock; holds the agent's pid (monitors read it too)
 *   <dataDir>/volumes/<pod>/<vol>   managed volumes (kept across restarts, removed with the pod)
 *   <dataDir>/logs/<pod>/<container>.log
 */
import { createHash } from "node:crypto"
import * as path from "node:path"

export interface PodLayout {
  readonly run: string
  readonly record: string
  readonly ns: string
  readonly etc: string
  readonly volumes: string
  readonly logs: string
  readonly container: (name: string) => ContainerLayout
}

export interface ContainerLayout {
  readonly dir: string
  readonly upper: string
  readonly work: string
  readonly merged: string
  readonly config: string
  readonly exit: string
  readonly socket: string
  readonly log: string
}

/** AF_UNIX sun_path is 108 bytes including the NUL. */
export const MAX_SOCKET_PATH = 107

export const socketDir = (dataDir: string) => path.join(dataDir, "sock")

/**
 * The agent lock (src/agent/lock.ts): it names the holder's pid, which is how a monitor tells the
 * agent's connections from others' (its reserved slots, PROTOCOL.md §4).
 */
export const agentLockFile = (dataDir: string) => path.join(dataDir, "agent.lock")

export const socketPath = (dataDir: string, pod: string, container: string): string => {
  const hash = createHash("sha256").update(`${pod}/${container}`).digest("hex").slice(0, 20)
  const p = path.join(socketDir(dataDir), `${hash}.sock`)
  if (Buffer.byteLength(p) > MAX_SOCKET_PATH) {
    // A very deep data dir: fall back to a per-data-dir directory under /run.
    const dd = createHash("sha256").update(dataDir).digest("hex").slice(0, 12)
    return path.join("/run/tank", dd, `${hash}.sock`)
  }
  return p
}

export const podLayout = (dataDir: string, pod: string): PodLayout => {
  const run = path.join(dataDir, "run", pod)
  const logs = path.join(dataDir, "logs", pod)
  return {
    run,
    record: path.join(run, "pod.json"),
    ns: path.join(run, "ns"),
    etc: path.join(run, "etc"),
    volumes: path.join(dataDir, "volumes", pod),
    logs,
    container: (name) => {
      const dir = path.join(run, "c", name)
      return {
        dir,
        upper: path.join(dir, "upper"),
        work: path.join(dir, "work"),
        merged: path.join(dir, "merged"),
        config: path.join(dir, "monitor.json"),
        exit: path.join(dir, "exit.json"),
        socket: socketPath(dataDir, pod, name),
        log: path.join(logs, `${name}.log`)
      }
    }
  }
}

/**
 * A pod's cgroup name: `<pod>-<8 hex of the data dir>`. Every agent on a host shares the cgroup tree
 * under `tank/`, so two data dirs may each have a pod "web"; the suffix keeps their groups (and
 * what one agent's teardown removes) apart.
 */
export const cgroupName = (dataDir: string, pod: string): string =>
  `${pod}-${createHash("sha256").update(path.resolve(dataDir)).digest("hex").slice(0, 8)}`
