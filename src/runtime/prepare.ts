/**
 * Host-side preparation of a pod before anything runs: images pulled, run parameters and users
 * resolved, volumes checked or created. Every failure is a SetupFailed naming the step.
 */
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type HostPathPolicy, resolveHostPath } from "../config/hostPaths.js"
import type { Images } from "../image/Images.js"
import type { ImageConfig } from "../image/registry/oci.js"
import { runParams, stopSignalNumber } from "../image/runParams.js"
import { resolveUser } from "../image/user.js"
import type { Container, Pod } from "../spec/Pod.js"
import type { PodLayout } from "./layout.js"
import { applyFsGroup, hostGid, mountTmpfs, tmpfsMounted } from "./podVolumes.js"
import { SetupFailed } from "./Runtime.js"
import { type ResolvedSecurity, resolveSecurity, type SecurityContext } from "./security/policy.js"
import type { IdRange } from "./userns/UserNamespaces.js"

export interface PreparedContainer {
  readonly spec: Container
  /** Layer dirs, lowest first. */
  readonly layers: ReadonlyArray<string>
  readonly argv: ReadonlyArray<string>
  readonly env: ReadonlyArray<string>
  readonly cwd: string
  readonly uid: number
  readonly gid: number
  readonly groups: ReadonlyArray<number>
  /** Volume binds: host source → container path; `hostPath`: a host directory (not a managed volume). */
  readonly volumes: ReadonlyArray<{ source: string; target: string; readOnly: boolean; hostPath: boolean }>
  /** The pod's host id range when it runs in a user namespace (hostUsers: false). */
  readonly ids: IdRange | undefined
  readonly imageDigest: string | undefined
  readonly security: ResolvedSecurity
  /** What stops it: the image's StopSignal, else SIGTERM (then SIGKILL after the grace period). */
  readonly stopSignal: number
}

const isHostVolume = (source: Pod["volumes"][number]["source"] | undefined): boolean =>
  typeof source === "object" && "host" in source

/** Where a container sits in its pod's spec, for messages: "containers[1]", "initContainers[0]". */
export const containerField = (pod: Pod, c: Container): string => {
  const i = pod.containers.indexOf(c)
  return i >= 0 ? `containers[${i}]` : `initContainers[${pod.initContainers.indexOf(c)}]`
}

const fail = (pod: string, step: string) => (e: unknown) =>
  new SetupFailed({ pod, step, message: e instanceof Error ? e.message : String(e) })

/**
 * Images are pulled if not present (the kubelet's IfNotPresent): a cached ref starts without asking
 * the registry, so restarts and re-applies never wait on the network. `tank pull` refreshes a tag.
 */
const pullImage = (images: Images["Type"], pod: Pod, c: Container) =>
  typeof c.image === "string"
    ? images.pull(c.image, { ifNotPresent: true }).pipe(
      Effect.map((img) => ({ layers: img.layers, config: img.config as ImageConfig | undefined, digest: img.digest })),
      Effect.mapError(fail(pod.name, `pull ${c.image}`))
    )
    : Effect.suspend(() => {
      const root = c.image as { rootfs: string }
      return fs.existsSync(root.rootfs) && fs.statSync(root.rootfs).isDirectory()
        ? Effect.succeed({ layers: [root.rootfs], config: undefined, digest: undefined })
        : Effect.fail(
          new SetupFailed({ pod: pod.name, step: "rootfs", message: `rootfs ${root.rootfs} is not a directory` })
        )
    })

/**
 * Managed volumes are created (0755) under the pod's volume dir; host sources must exist as dirs and
 * pass the agent's host-path policy (../config/hostPaths.ts): they are mounted by their resolved path.
 */
export const volumeSources = (
  pod: Pod,
  layout: PodLayout,
  policy: HostPathPolicy,
  ids?: IdRange
): Effect.Effect<ReadonlyMap<string, string>, SetupFailed> =>
  Effect.try({
    try: () => {
      const used = new Set([...pod.initContainers, ...pod.containers].flatMap((c) => c.mounts.map((m) => m.volume)))
      const out = new Map<string, string>()
      for (const v of pod.volumes) {
        if (!used.has(v.name)) continue
        if (v.source === "managed") {
          const dir = path.join(layout.volumes, v.name)
          fs.mkdirSync(dir, { recursive: true, mode: 0o755 })
          // In a user namespace the volume's root belongs to the pod's root (its files are the
          // pod's own writes); a dir made before the pod had a range is handed over once.
          if (ids && fs.statSync(dir).uid === 0) fs.chownSync(dir, ids.hostUid, ids.hostGid)
          if (pod.fsGroup !== undefined) applyFsGroup(dir, hostGid(pod.fsGroup, ids))
          out.set(v.name, dir)
        } else if ("tmpfs" in v.source) {
          // Mounted once per run (a restarted container finds it); unmounted with the run dir.
          const dir = tmpfsMounted(layout.run, v.name) ?? mountTmpfs(layout.run, v.name, {
            size: v.source.tmpfs.size,
            uid: ids?.hostUid ?? 0,
            gid: ids?.hostGid ?? 0
          })
          if (pod.fsGroup !== undefined) applyFsGroup(dir, hostGid(pod.fsGroup, ids))
          out.set(v.name, dir)
        } else {
          const st = fs.statSync(v.source.host, { throwIfNoEntry: false })
          if (!st?.isDirectory()) throw new Error(`volume "${v.name}": host path ${v.source.host} is not a directory`)
          out.set(v.name, resolveHostPath(v.name, v.source.host, policy))
        }
      }
      return out
    },
    catch: fail(pod.name, "volumes")
  })

export const prepareContainer = (
  images: Images["Type"],
  pod: Pod,
  c: Container,
  volumes: ReadonlyMap<string, string>,
  security: SecurityContext,
  ids?: IdRange
): Effect.Effect<PreparedContainer, SetupFailed> =>
  Effect.gen(function*() {
    const img = yield* pullImage(images, pod, c)
    const params = yield* Either.match(runParams(c, img.config?.config), {
      onLeft: (e) => Effect.fail(fail(pod.name, "command")(e)),
      onRight: Effect.succeed
    })
    const stopSignal = yield* Either.match(stopSignalNumber(params.stopSignal), {
      onLeft: (why) => Effect.fail(new SetupFailed({ pod: pod.name, step: "stop signal", message: why })),
      onRight: Effect.succeed
    })
    const resolved = yield* resolveUser(img.layers, params.user).pipe(Effect.mapError(fail(pod.name, "user")))
    // fsGroup and supplementalGroups: every container of the pod is in them too (as in Kubernetes).
    const extraGroups = [...(pod.fsGroup !== undefined ? [pod.fsGroup] : []), ...(pod.supplementalGroups ?? [])]
      .filter((g, i, all) => !resolved.groups.includes(g) && all.indexOf(g) === i)
    const user = extraGroups.length === 0 ? resolved : { ...resolved, groups: [...resolved.groups, ...extraGroups] }
    if (c.runAsNonRoot === true && user.uid === 0) {
      return yield* new SetupFailed({
        pod: pod.name,
        step: "user",
        message: `${containerField(pod, c)}.runAsNonRoot: the container would run as root (uid 0${
          params.user === undefined ? ", the image names no user" : `, user "${params.user}"`
        }); give it a non-root user`
      })
    }
    if (ids && [user.uid, user.gid, ...user.groups].some((id) => id >= ids.size)) {
      return yield* new SetupFailed({
        pod: pod.name,
        step: "user",
        message: `${containerField(pod, c)}: user ${user.uid}:${user.gid} (groups ${
          user.groups.join(",") || "none"
        }) is outside the pod's user namespace (ids 0..${ids.size - 1}, hostUsers: false)`
      })
    }
    const env = params.env.some((e) => e.startsWith("PATH="))
      ? params.env
      : ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...params.env]
    const withTerm = c.tty && !env.some((e) => e.startsWith("TERM=")) ? [...env, "TERM=xterm"] : env
    return {
      spec: c,
      layers: img.layers,
      argv: params.argv,
      env: [
        ...withTerm,
        `HOSTNAME=${pod.hostname ?? pod.name}`,
        ...(env.some((e) => e.startsWith("HOME="))
          ? []
          : [`HOME=${user.home ?? "/"}`])
      ],
      cwd: params.cwd,
      uid: user.uid,
      gid: user.gid,
      groups: user.groups,
      volumes: c.mounts.map((m) => ({
        source: volumes.get(m.volume)!,
        target: m.path,
        readOnly: m.readOnly,
        hostPath: isHostVolume(pod.volumes.find((v) => v.name === m.volume)?.source)
      })),
      ids,
      imageDigest: img.digest,
      stopSignal,
      security: yield* resolveSecurity(security, c, containerField(pod, c)).pipe(
        Effect.mapError((e) =>
          new SetupFailed({ pod: pod.name, step: "security", message: `${e.field}: ${e.message}` })
        )
      )
    }
  })
