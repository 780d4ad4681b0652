/**
 * `cp` between a running pod and the host, as `docker cp`/`kubectl cp`: tar runs INSIDE the pod
 * (through `tank-helper enter`, like exec: the pod's mount namespace and root, its cgroups, seccomp
 * and capabilities; as the pod's root, docker cp's default), so every path in the pod — the copied
 * path and any symlink on the way — is resolved against the container's root, never the host's.
 * The pod's tar must exist (as for kubectl cp). What comes back is untrusted and is extracted by
 * untar.ts, which refuses names that leave the destination and writes through symlinks.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import { PassThrough, Readable, Writable } from "node:stream"
import * as tar from "tar-stream"
import type { TankConfig } from "../../config/Config.js"
import type { ExecUser } from "../command.js"
import { execCapture, type ExecError, execStream } from "../Exec.js"
import { CpInvalid, CpLocalFailed, CpPodFailed, CpRefused } from "./errors.js"
import { packLocal } from "./pack.js"
import { type Kind, parseSide, placement, type PodPath, splitSource } from "./paths.js"
export { parseSide }
import { untarSafely } from "./untar.js"

export * from "./errors.js"
export { type CpSide, type PodPath } from "./paths.js"

export interface CpResult {
  readonly entries: number
  /** Devices, fifos and sockets that were not copied. */
  readonly skipped: ReadonlyArray<string>
}

export type CpError = ExecError | CpInvalid | CpLocalFailed | CpPodFailed | CpRefused

const ROOT: ExecUser = { uid: 0, gid: 0, groups: [] }

const localKind = (p: string): Effect.Effect<Kind, CpLocalFailed> =>
  Effect.tryPromise({
    try: () => fs.promises.stat(p).then((s): Kind => (s.isDirectory() ? "directory" : "file")),
    catch: (e) => e
  }).pipe(
    Effect.catchAll((e) =>
      (e as NodeJS.ErrnoException).code === "ENOENT"
        ? Effect.succeed<Kind>("missing")
        : Effect.fail(new CpLocalFailed({ path: p, message: String((e as Error).message ?? e) }))
    )
  )

/** A Writable that keeps the last bytes written (tar's complaints). */
const collector = () => {
  let text = ""
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text = (text + chunk.toString("utf8")).slice(-4096)
      cb()
    }
  })
  return { stream, text: () => text }
}

const podFailed = (at: PodPath, container: string, exitCode: number, stderr: string) =>
  new CpPodFailed({ pod: at.pod, container, path: at.path, exitCode, stderr })

/** A name tar must not read as an option. */
const operand = (name: string) => (name.startsWith("-") ? `./${name}` : name)

/** Copy `at.path` out of the pod to `local` (docker cp's rules, paths.ts). */
export const copyFromPod = (at: PodPath, local: string): Effect.Effect<CpResult, CpError, TankConfig> =>
  Effect.gen(function*() {
    const split = splitSource(at.path)
    const destKind = yield* localKind(local)
    const out = new PassThrough()
    const err = collector()
    const container = at.container ?? "(first)"
    const inPod = execStream(at.pod, ["tar", "-c", "-f", "-", "-C", split.dir, operand(split.name)], {
      ...(at.container !== undefined ? { container: at.container } : {}),
      user: ROOT,
      tty: false,
      stdin: Readable.from([]),
      stdout: out,
      stderr: err.stream
    }).pipe(
      // The pod's tar is done: nothing more comes (execStream leaves a stream it was given open).
      Effect.ensuring(Effect.sync(() => out.end())),
      Effect.flatMap((r) =>
        "exited" in r && r.exited === 0
          ? Effect.void
          : Effect.fail(podFailed(at, container, "exited" in r ? r.exited : 128 + r.signaled, err.text()))
      )
    )
    const extract = Effect.tryPromise({
      try: () =>
        untarSafely(
          out,
          split.name,
          (kind) => placement({ kind, split, shown: at.path }, { kind: destKind, path: local })
        ),
      catch: (e) =>
        e instanceof CpRefused || e instanceof CpInvalid
          ? e
          : new CpLocalFailed({ path: local, message: String((e as Error).message ?? e) })
    })
    // Either side failing stops the other (an interrupted exec ends the pod's tar).
    const [, result] = yield* Effect.all([inPod, extract], { concurrency: 2 })
    return result
  })

/** What a path names inside the pod (resolved there): one `sh -c test` as the pod's root. */
const podKind = (at: PodPath): Effect.Effect<Kind, ExecError | CpPodFailed, TankConfig> =>
  execCapture(at.pod, [
    "sh",
    "-c",
    "if [ -d \"$1\" ]; then echo directory; elif [ -e \"$1\" ] || [ -L \"$1\" ]; then echo file; else echo missing; fi",
    "sh",
    at.path
  ], { ...(at.container !== undefined ? { container: at.container } : {}), user: ROOT }).pipe(
    Effect.flatMap((r) => {
      const said = r.stdout.trim()
      return r.exitCode === 0 && (said === "directory" || said === "file" || said === "missing")
        ? Effect.succeed(said)
        : Effect.fail(podFailed(at, at.container ?? "(first)", r.exitCode ?? 128 + (r.signal ?? 0), r.stderr))
    })
  )

/** Copy `local` into the pod at `at.path` (docker cp's rules, paths.ts). */
export const copyToPod = (local: string, at: PodPath): Effect.Effect<CpResult, CpError, TankConfig> =>
  Effect.gen(function*() {
    const split = splitSource(local)
    const st = yield* Effect.tryPromise({
      try: () => fs.promises.lstat(local),
      catch: (e) => new CpLocalFailed({ path: local, message: String((e as Error).message ?? e) })
    })
    const destKind = yield* podKind(at)
    const where = placement(
      { kind: st.isDirectory() ? "directory" : "file", split, shown: local },
      { kind: destKind, path: at.path }
    )
    if ("error" in where) return yield* new CpInvalid({ reason: where.error })
    const pack = tar.pack()
    const err = collector()
    const container = at.container ?? "(first)"
    const inPod = execStream(at.pod, ["tar", "-x", "-f", "-", "-C", where.dir], {
      ...(at.container !== undefined ? { container: at.container } : {}),
      user: ROOT,
      tty: false,
      stdin: Readable.from(pack),
      stdout: collector().stream,
      stderr: err.stream
    }).pipe(
      Effect.flatMap((r) =>
        "exited" in r && r.exited === 0
          ? Effect.void
          : Effect.fail(podFailed(at, container, "exited" in r ? r.exited : 128 + r.signaled, err.text()))
      )
    )
    const packing = Effect.tryPromise({
      try: () => packLocal(pack, local, where.as),
      catch: (e) => new CpLocalFailed({ path: local, message: String((e as Error).message ?? e) })
    })
    const [, result] = yield* Effect.all([inPod, packing], { concurrency: 2 })
    return result
  })

/** The pod a `cp` between `src` and `dest` involves and the copy itself; CpInvalid unless exactly one is in a pod. */
export const cpJob = (src: string, dest: string) => {
  const from = parseSide(src)
  const to = parseSide(dest)
  if (from._tag === "invalid") return new CpInvalid({ reason: from.reason })
  if (to._tag === "invalid") return new CpInvalid({ reason: to.reason })
  if (from._tag === "pod" && to._tag === "local") return { pod: from.at.pod, copy: copyFromPod(from.at, to.path) }
  if (from._tag === "local" && to._tag === "pod") return { pod: to.at.pod, copy: copyToPod(from.path, to.at) }
  return new CpInvalid({ reason: "exactly one of SRC and DEST must be in a pod (POD:/path)" })
}

/** `cp SRC DEST` with docker cp's argument forms: `POD[:CONTAINER]:/path` on exactly one side. */
export const cp = (src: string, dest: string): Effect.Effect<CpResult, CpError, TankConfig> => {
  const job = cpJob(src, dest)
  return job instanceof CpInvalid ? Effect.fail(job) : job.copy
}
