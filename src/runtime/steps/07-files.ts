/**
 * Step 7, files: the pod's /etc files (hosts, hostname, resolv.conf), its log dir, and each
 * container's overlay dirs (writable layer, work dir, mount point); in a user namespace they belong
 * to the pod's root. All of it is under the run dir or the pod's layers dir (both removed last by
 * the undo, runner.ts) or the log dir (outlives runs): nothing to undo here.
 *
 * Its dozen file calls go through libuv's pool, not the agent's thread, which is what a burst of
 * starts is bound by (issue 21). On ext4 a directory's creation slows down right after many removals
 * (a burst's teardowns): made synchronously, 8 starts at a time, the same calls took 6-7 ms of the
 * agent's thread per start there against ~1 ms through the pool (0.3 against 0.5 ms on a file system
 * at rest). Parents are made before children, so no call fails with ENOENT first and is retried, as
 * a recursive one from the leaf would. A lone start (no other bring-up under way, StepDeps.alone)
 * makes the same calls on the agent's thread: there each pool trip cost more than its call.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { resolvConf } from "../../net/resolvConf.js"
import { hostnameFile, hostsFile } from "../etcFiles.js"
import type { ContainerLayout } from "../layout.js"
import { step } from "../monitors.js"
import type { IdRange } from "../userns/UserNamespaces.js"
import type { Step } from "./Step.js"

/** A container's overlay dirs, and those its pod's root owns in a user namespace. */
const layerDirs = (L: ContainerLayout) => ({ all: [L.upper, L.work, L.merged], owned: [L.upper, L.work] })

/**
 * A container's overlay dirs (synchronously: a restart makes one container's). In a user namespace
 * the writable layer belongs to the pod's root: the merged root dir is the upper dir's, and what the
 * pod writes is stored under its host ids.
 */
export const makeLayerDirs = (L: ContainerLayout, ids?: IdRange) => {
  const { all, owned } = layerDirs(L)
  for (const d of all) fs.mkdirSync(d, { recursive: true, mode: 0o755 })
  if (ids) { for (const d of owned) fs.chownSync(d, ids.hostUid, ids.hostGid) }
}

const emptyIfMissing = (e: NodeJS.ErrnoException) => {
  if (e.code === "ENOENT") return ""
  throw e
}

/** The step's file calls through libuv's pool (a burst: the agent's thread is what it is bound by). */
const pooled = {
  mkdir: (d: string, o: fs.MakeDirectoryOptions) => fs.promises.mkdir(d, o).then(() => undefined),
  chown: (p: string, uid: number, gid: number) => fs.promises.chown(p, uid, gid),
  writeFile: (f: string, text: string) => fs.promises.writeFile(f, text),
  readOrEmpty: (f: string) => fs.promises.readFile(f, "utf8").catch(emptyIfMissing)
}

/**
 * The same calls made on the agent's thread, as promises of their results (a lone start,
 * StepDeps.alone: each pool trip cost more than the call; the code above them stays one).
 */
const onThread: typeof pooled = {
  mkdir: async (d, o) => void fs.mkdirSync(d, o),
  chown: async (p, uid, gid) => fs.chownSync(p, uid, gid),
  writeFile: async (f, text) => fs.writeFileSync(f, text),
  readOrEmpty: async (f) => {
    try {
      return fs.readFileSync(f, "utf8")
    } catch (e) {
      return emptyIfMissing(e as NodeJS.ErrnoException)
    }
  }
}

export const files: Step<"files"> = {
  name: "files",
  acquire: (run) =>
    Effect.gen(function*() {
      const { layout, pod } = run
      const ids = run.live.ids
      const hostDns = yield* run.deps.host.dns
      const addresses = run.live.addresses ?? []
      const dns = run.live.dns ?? []
      const io = run.deps.alone?.() ? onThread : pooled
      const chown = (p: string) => ids ? io.chown(p, ids.hostUid, ids.hostGid) : Promise.resolve()
      const mkdir = (d: string) => io.mkdir(d, { recursive: true, mode: 0o755 })
      const etc = async () => {
        const hostname = pod.hostname ?? pod.name
        const [hostResolv] = await Promise.all([io.readOrEmpty("/etc/resolv.conf"), mkdir(layout.etc)])
        const write = async (name: string, text: string) => {
          const file = path.join(layout.etc, name)
          await io.writeFile(file, text)
          // The pod's root may rewrite its /etc files, as root does elsewhere.
          await chown(file)
        }
        await Promise.all([
          write("hosts", hostsFile(hostname, addresses)),
          write("hostname", hostnameFile(hostname)),
          write("resolv.conf", resolvConf(pod.network, { servers: hostDns, resolvConf: hostResolv }, dns))
        ])
      }
      const layers = async () => {
        const specs = [...pod.initContainers, ...pod.containers]
        if (specs.length === 0) return
        // `c/` (run root) and the pod's layers dir (data dir), then each container's dir in both,
        // then its layer dirs side by side.
        await Promise.all([mkdir(path.dirname(layout.container(specs[0]!.name).dir)), mkdir(layout.layers)])
        await Promise.all(specs.map(async (c) => {
          const L = layout.container(c.name)
          const { all, owned } = layerDirs(L)
          await Promise.all([mkdir(L.dir), mkdir(path.dirname(L.upper))])
          await Promise.all(all.map(mkdir))
          await Promise.all(owned.map(chown))
        }))
      }
      yield* Effect.tryPromise({
        try: () => Promise.all([etc(), io.mkdir(layout.logs, { recursive: true, mode: 0o700 }), layers()]),
        catch: step(pod.name, "etc")
      })
      return {}
    }),
  release: () => Effect.void
}
