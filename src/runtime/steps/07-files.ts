/**
 * Step 7, files: the pod's /etc files (hosts, hostname, resolv.conf), its log dir, and each
 * container's overlay dirs (writable layer, work dir, mount point); in a user namespace they belong
 * to the pod's root. All of it is under the run dir (removed last by the undo) or the log dir
 * (outlives runs): nothing to undo here.
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

/**
 * A container's overlay dirs. In a user namespace the writable layer belongs to the pod's root:
 * the merged root dir is the upper dir's, and what the pod writes is stored under its host ids.
 */
export const makeLayerDirs = (L: ContainerLayout, ids?: IdRange) => {
  for (const d of [L.upper, L.work, L.merged]) fs.mkdirSync(d, { recursive: true, mode: 0o755 })
  if (ids) { for (const d of [L.upper, L.work]) fs.chownSync(d, ids.hostUid, ids.hostGid) }
}

export const files: Step<"files"> = {
  name: "files",
  acquire: (run) =>
    Effect.gen(function*() {
      const { layout, pod } = run
      const ids = run.live.ids
      const hostDns = yield* run.deps.host.dns
      yield* Effect.try({
        try: () => {
          fs.mkdirSync(layout.etc, { recursive: true })
          fs.mkdirSync(layout.logs, { recursive: true, mode: 0o700 })
          const hostname = pod.hostname ?? pod.name
          fs.writeFileSync(path.join(layout.etc, "hosts"), hostsFile(hostname, run.live.addresses ?? []))
          fs.writeFileSync(path.join(layout.etc, "hostname"), hostnameFile(hostname))
          const hostResolv = fs.existsSync("/etc/resolv.conf") ? fs.readFileSync("/etc/resolv.conf", "utf8") : ""
          fs.writeFileSync(
            path.join(layout.etc, "resolv.conf"),
            resolvConf(pod.network, { servers: hostDns, resolvConf: hostResolv }, run.live.dns ?? [])
          )
          // The pod's root may rewrite its /etc files, as root does elsewhere.
          if (ids) {
            for (const f of ["hosts", "hostname", "resolv.conf"]) {
              fs.chownSync(path.join(layout.etc, f), ids.hostUid, ids.hostGid)
            }
          }
          for (const c of [...pod.initContainers, ...pod.containers]) makeLayerDirs(layout.container(c.name), ids)
        },
        catch: step(pod.name, "etc")
      })
      return {}
    }),
  release: () => Effect.void
}
