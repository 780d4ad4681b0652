/**
 * The cgroup v2 driver (most real hosts: one unified hierarchy).
 *
 * Layout: `<root>/tank` (Tank's base) → `tank/<pod>` (accounting parent, never holds processes:
 * v2's no-internal-processes rule) → `tank/<pod>/<container>` (the leaf with the limits and the
 * tasks). A controller's files exist in a group only when its parent lists the controller in
 * `cgroup.subtree_control`, so Tank enables memory, pids and cpu — those the root offers in
 * `cgroup.controllers` — in the root (only if missing: like runc/crun on hosts where no manager
 * did it), in `tank/` and in each pod group, before writing limits.
 *
 * cgroup2 has no device controller: `limits.devices` becomes a BPF_PROG_TYPE_CGROUP_DEVICE program
 * on the group, through the `attachDevices` port (deviceProgram.ts; by default the native helper).
 * The kernel runs the programs of the group and of all its ancestors: an access must pass them all.
 */
import type { Duration } from "effect"
import { Effect, Either, Ref } from "effect"
import { V2_CONTROLLERS } from "./detect.js"
import type { DeviceAttacher } from "./deviceProgram.js"
import { helperDeviceAttacher } from "./deviceProgram.js"
import { validateDeviceRules } from "./devices.js"
import type { CgroupFs } from "./fs.js"
import { liveCgroupFs, readOptional, subdirsOptional } from "./fs.js"
import { v2Writes } from "./limits.js"
import type { CgroupHandle, CgroupLimits, CgroupPath, CgroupsService, Controller, RemoveOptions } from "./model.js"
import { CgroupError, relativeDir, validatePath } from "./model.js"
import { DEFAULT_REMOVE_TIMEOUT, removeIfChildless, removeTree } from "./remove.js"
import { scopedCreate, undoOnFailure } from "./scoped.js"
import { v2Stats } from "./statsParse.js"

export interface V2Config {
  /** The cgroup2 mount point (`/sys/fs/cgroup` on a pure v2 host; a temp dir in tests). */
  readonly root: string
  /** The directory under the root that holds Tank's groups (default "tank"). */
  readonly base?: string
  /** How long removal retries rmdir while the group is busy (default 5 s). */
  readonly removeTimeout?: Duration.DurationInput
  readonly fs?: CgroupFs
  /** Puts a device allow list on a group (default: `tank-helper cgroup-devices`, see deviceProgram.ts). */
  readonly attachDevices?: DeviceAttacher
}

const words = (text: string) => text.split(/\s+/).filter((w) => w !== "")

export const makeV2 = (config: V2Config): CgroupsService => {
  const fs = config.fs ?? liveCgroupFs
  const base = config.base ?? "tank"
  const timeout = config.removeTimeout ?? DEFAULT_REMOVE_TIMEOUT
  const root = config.root
  const attachDevices = config.attachDevices ?? helperDeviceAttacher()
  const dirOf = (path: CgroupPath) => `${root}/${relativeDir(base, path)}`
  const handleOf = (path: CgroupPath): CgroupHandle => ({
    path,
    dirs: [dirOf(path)],
    procsFiles: [`${dirOf(path)}/cgroup.procs`]
  })
  const validated = <A>(path: CgroupPath, f: () => Effect.Effect<A, CgroupError>) => {
    const invalid = validatePath(path)
    return invalid === undefined ? Effect.suspend(f) : Effect.fail(invalid)
  }
  const enable = (dir: string, available: ReadonlyArray<string>) =>
    available.length === 0
      ? Effect.void
      : fs.write(`${dir}/cgroup.subtree_control`, available.map((c) => `+${c}`).join(" "))

  // Set up once per driver instance (the root and tank/ rarely change); reset if tank/ vanishes.
  const prepared = Ref.unsafeMake<ReadonlyArray<Controller> | undefined>(undefined)
  const available: Effect.Effect<ReadonlyArray<Controller>, CgroupError> = fs.read(`${root}/cgroup.controllers`).pipe(
    Effect.map((text) => V2_CONTROLLERS.filter((c) => words(text).includes(c)) as ReadonlyArray<Controller>)
  )
  const prepare = (created: Array<string>) =>
    Ref.get(prepared).pipe(Effect.flatMap((done) =>
      done !== undefined ? Effect.succeed(done) : Effect.gen(function*() {
        const avail = yield* available
        const enabled = words(yield* fs.read(`${root}/cgroup.subtree_control`))
        const missing = avail.filter((c) => !enabled.includes(c))
        if (missing.length > 0) yield* enable(root, missing)
        if (yield* fs.mkdir(`${root}/${base}`)) created.push(`${root}/${base}`)
        yield* enable(`${root}/${base}`, avail)
        yield* Ref.set(prepared, avail)
        return avail
      })
    ))

  const ensure = (path: CgroupPath, limits: CgroupLimits = {}) =>
    validated(path, () =>
      undoOnFailure(fs, (created) =>
        Effect.gen(function*() {
          const writes = v2Writes(limits)
          if (Either.isLeft(writes)) {
            return yield* new CgroupError({ op: "validate", path: dirOf(path), code: "EINVAL", message: writes.left })
          }
          const devices = limits.devices === undefined ? undefined : validateDeviceRules(limits.devices)
          if (devices !== undefined && Either.isLeft(devices)) {
            return yield* new CgroupError({ op: "validate", path: dirOf(path), code: "EINVAL", message: devices.left })
          }
          const avail = yield* prepare(created)
          const missing = writes.right.find((w) => !avail.includes(w.controller))
          if (missing !== undefined) {
            return yield* new CgroupError({
              op: "create",
              path: dirOf(path),
              code: "ENOTSUP",
              message: `${missing.file} needs the ${missing.controller} controller, which ${root} does not offer`
            })
          }
          const podDir = dirOf({ pod: path.pod })
          const podNew = yield* fs.mkdir(podDir).pipe(
            // tank/ was removed behind our back: set it up again, once
            Effect.catchIf((e) => e.code === "ENOENT", () =>
              Ref.set(prepared, undefined).pipe(
                Effect.zipRight(prepare(created)),
                Effect.zipRight(fs.mkdir(podDir))
              ))
          )
          if (podNew) created.push(podDir)
          if (path.container !== undefined) {
            yield* enable(podDir, avail)
            if (yield* fs.mkdir(dirOf(path))) created.push(dirOf(path))
          }
          for (const w of writes.right) yield* fs.write(`${dirOf(path)}/${w.file}`, w.value)
          if (devices !== undefined) yield* attachDevices(dirOf(path), devices.right)
          return handleOf(path)
        })))

  const remove = (path: CgroupPath, options?: RemoveOptions) =>
    validated(path, () => {
      const children = path.container === undefined ? options?.children ?? [] : []
      const invalid = children.map((container) => validatePath({ pod: path.pod, container })).find((e) => e)
      if (invalid !== undefined) return Effect.fail(invalid)
      const settings = { force: options?.force ?? false, timeout, cgroupKill: true }
      return path.container === undefined
        ? removeTree(fs, [dirOf(path)], settings, children)
        : removeTree(fs, [dirOf(path)], settings).pipe(
          Effect.zipRight(removeIfChildless(fs, [dirOf({ pod: path.pod })], { ...settings, force: false }))
        )
    })

  const stats = (path: CgroupPath) =>
    validated(path, () =>
      Effect.gen(function*() {
        const dir = dirOf(path)
        const read = (file: string) => readOptional(fs, `${dir}/${file}`)
        const files = yield* Effect.all({
          "cpu.stat": read("cpu.stat"),
          "memory.current": read("memory.current"),
          "memory.peak": read("memory.peak"),
          "memory.max": read("memory.max"),
          "memory.events": read("memory.events"),
          "pids.current": read("pids.current"),
          "pids.max": read("pids.max")
        }, { concurrency: "unbounded" })
        // cpu.stat exists in every v2 group: without it the group itself is gone
        if (files["cpu.stat"] === undefined) {
          return yield* new CgroupError({ op: "stats", path: dir, code: "ENOENT", message: `no cgroup ${dir}` })
        }
        return v2Stats(files)
      }))

  return {
    driver: "v2",
    controllers: available,
    create: scopedCreate(ensure, remove),
    ensure,
    handle: (path) => validated(path, () => Effect.succeed(handleOf(path))),
    addProcess: (handle, pid) => Effect.forEach(handle.procsFiles, (f) => fs.write(f, String(pid)), { discard: true }),
    stats,
    list: subdirsOptional(fs, `${root}/${base}`).pipe(Effect.map((names) => [...names].sort())),
    remove
  }
}
