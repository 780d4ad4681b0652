/**
 * Where a pod's pieces live (pure). A run's state — what describes kernel objects that a reboot
 * ends anyway (records, namespace pins, monitor configs and sockets) — is in the **run root**, a
 * tmpfs like crun's /run/crun or containerd's /run/containerd (runRoot.ts mounts one when the dir is
 * not on a tmpfs); what must outlive a reboot or can grow large is in the data dir:
 *
 *   <runRoot> = /run/tank/<12 hex of the resolved data dir>
 *   <runRoot>/run/<pod>/            one run: removed at teardown
 *     pod.json                      what a new agent needs to re-adopt the run
 *     ns/{net,uts,ipc}              the pinned pod sandbox
 *     etc/{hosts,hostname,resolv.conf}
 *     c/<container>/{merged,monitor.json,exit.json}
 *   <runRoot>/trash/<pod>.<…>/      an undone run dir, renamed here and removed shortly after (trash.ts)
 *   <runRoot>/sock/<hash>.sock      monitor sockets
 *   <dataDir>/layers/<pod>/<container>/{upper,work}
 *                                   each container's writable layer: on disk, as docker's and
 *                                   podman's (in a tmpfs it would take RAM, charged to the pod's
 *                                   memory limit); removed with the run, or at the next start of a
 *                                   runtime when its run is gone (a reboot emptied the run root)
 *   <dataDir>/trash/                undone layers, removed off the stop's path
 *   <dataDir>/agent.lock            the agent lock; holds the agent's pid (monitors read it too)
 *   <dataDir>/volumes/<pod>/<vol>   managed volumes (kept across restarts, removed with the pod)
 *   <dataDir>/logs/<pod>/<container>.log
 *
 * Why a tmpfs (issue 21): every file a start made on the VM's ext4 cost 0.03-1 ms of allocation
 * (~1 ms under /tmp), some twenty of them on a start's path, where a tmpfs takes ~10 µs.
 */
import { createHash } from "node:crypto"
import * as path from "node:path"

export interface PodLayout {
  readonly run: string
  /** The pod's writable layers, `<dataDir>/layers/<pod>`. */
  readonly layers: string
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

/** The run root of a data dir: the same for every process that names the data dir (agent, CLI). */
export const runRootOf = (dataDir: string) =>
  path.join("/run/tank", createHash("sha256").update(path.resolve(dataDir)).digest("hex").slice(0, 12))

/** Where the run dirs are (`<runRoot>/run`). */
export const runsDir = (dataDir: string) => path.join(runRootOf(dataDir), "run")

/** Where the writable layers are (`<dataDir>/layers`). */
export const layersDir = (dataDir: string) => path.join(dataDir, "layers")

export const socketDir = (dataDir: string) => path.join(runRootOf(dataDir), "sock")

/**
 * The agent lock (src/agent/lock.ts): it names the holder's pid, which is how a monitor tells the
 * agent's connections from others' (its reserved slots, PROTOCOL.md §4).
 */
export const agentLockFile = (dataDir: string) => path.join(dataDir, "agent.lock")

export const socketPath = (dataDir: string, pod: string, container: string): string => {
  const hash = createHash("sha256").update(`${pod}/${container}`).digest("hex").slice(0, 20)
  // /run/tank/<12>/sock/<20>.sock: 53 bytes, whatever the data dir's length.
  return path.join(socketDir(dataDir), `${hash}.sock`)
}

export const podLayout = (dataDir: string, pod: string): PodLayout => {
  const run = path.join(runsDir(dataDir), pod)
  const logs = path.join(dataDir, "logs", pod)
  const layers = path.join(layersDir(dataDir), pod)
  return {
    run,
    layers,
    record: path.join(run, "pod.json"),
    ns: path.join(run, "ns"),
    etc: path.join(run, "etc"),
    volumes: path.join(dataDir, "volumes", pod),
    logs,
    container: (name) => {
      const dir = path.join(run, "c", name)
      return {
        dir,
        upper: path.join(layers, name, "upper"),
        work: path.join(layers, name, "work"),
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
