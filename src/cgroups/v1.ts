/**
 * The cgroup v1 driver (this machine and CI: a v1/v2 hybrid with memory, pids, cpu, cpuacct on
 * v1 hierarchies).
 *
 * A group is one directory per hierarchy Tank uses: `<mount>/tank/<pod>[/<container>]` under the
 * mount point of each hierarchy carrying memory, pids, cpu or cpuacct (co-mounts such as
 * `cpu,cpuacct` are one hierarchy, hence one directory). Paths are absolute from the hierarchy's
 * mount, never relative to the caller's own cgroup. A hierarchy that also carries cpuset gets
 * cpuset.cpus/mems copied from the parent into every directory Tank creates: v1 leaves them empty
 * and an empty cpuset refuses tasks.
 *
 * The `devices` hierarchy (when mounted) gets the same directories, so every process that joins
 * the group is under its device policy; `limits.devices` is written there (devices.ts has the
 * writes: `a` to devices.deny then the rules to devices.allow for a fresh group, only the
 * difference for a group that already denies by default).
 */
import type { Duration } from "effect"
import { Effect, Either } from "effect"
import type { V1Hierarchy } from "./detect.js"
import { V1_CONTROLLERS, V1_GROUP_CONTROLLERS } from "./detect.js"
import type { DeviceRule } from "./devices.js"
import { consecutiveRuns, parseDevicesList, v1DeviceWrites, validateDeviceRules } from "./devices.js"
import type { CgroupFs } from "./fs.js"
import { liveCgroupFs, readOptional, subdirsOptional } from "./fs.js"
import { v1Writes } from "./limits.js"
import type { CgroupHandle, CgroupLimits, CgroupPath, CgroupsService, Controller, RemoveOptions } from "./model.js"
import { CgroupError, relativeDir, validatePath } from "./model.js"
import { DEFAULT_REMOVE_TIMEOUT, removeIfChildless, removeTree } from "./remove.js"
import { scopedCreate, undoOnFailure } from "./scoped.js"
import { parseCount, parseFlatKeyed, v1Stats } from "./statsParse.js"

export interface V1Config {
  /** The v1 hierarchies (from detection, or a fake tree in tests). Those without a Tank controller are ignored. */
  readonly hierarchies: ReadonlyArray<V1Hierarchy>
  /** The directory under each mount that holds Tank's groups (default "tank"). */
  readonly base?: string
  /** How long removal retries rmdir while the group is busy (default 5 s). */
  readonly removeTimeout?: Duration.DurationInput
  readonly fs?: CgroupFs
}

const parentOf = (rel: string): string | undefined => {
  const i = rel.lastIndexOf("/")
  return i < 0 ? undefined : rel.slice(0, i)
}

export const makeV1 = (config: V1Config): CgroupsService => {
  const fs = config.fs ?? liveCgroupFs
  const base = config.base ?? "tank"
  const timeout = config.removeTimeout ?? DEFAULT_REMOVE_TIMEOUT
  const hierarchies = config.hierarchies.filter((h) => h.controllers.some((c) => V1_GROUP_CONTROLLERS.includes(c)))
  const of = (c: Controller) => hierarchies.find((h) => h.controllers.includes(c))
  const controllers = V1_CONTROLLERS.filter((c) => of(c as Controller) !== undefined) as ReadonlyArray<Controller>
  const dirsOf = (path: CgroupPath) => hierarchies.map((h) => `${h.mountPoint}/${relativeDir(base, path)}`)

  const handleOf = (path: CgroupPath): CgroupHandle => {
    const dirs = dirsOf(path)
    return { path, dirs, procsFiles: dirs.map((d) => `${d}/cgroup.procs`) }
  }

  const validated = <A>(path: CgroupPath, f: () => Effect.Effect<A, CgroupError>) => {
    const invalid = validatePath(path)
    return invalid === undefined ? Effect.suspend(f) : Effect.fail(invalid)
  }

  // v1 creates cpuset dirs with empty cpus/mems; tasks cannot join until they are filled in.
  const initCpuset = (dir: string) =>
    Effect.forEach(["cpuset.cpus", "cpuset.mems"], (file) =>
      fs.read(`${dir}/${file}`).pipe(
        Effect.flatMap((own) =>
          own.trim() !== ""
            ? Effect.void
            : fs.read(`${parentOf(dir)}/${file}`).pipe(Effect.flatMap((v) => fs.write(`${dir}/${file}`, v.trim())))
        )
      ), { discard: true })

  /** mkdir -p from the leaf up: one mkdir when the parents exist (the common case), recreating them if not. */
  const ensureDir = (h: V1Hierarchy, rel: string, created: Array<string>): Effect.Effect<void, CgroupError> => {
    const dir = `${h.mountPoint}/${rel}`
    return fs.mkdir(dir).pipe(
      Effect.tap((isNew) => (isNew ? Effect.sync(() => created.push(dir)) : Effect.void)),
      Effect.flatMap((isNew) => (isNew && h.controllers.includes("cpuset") ? initCpuset(dir) : Effect.void)),
      Effect.catchIf(
        (e) => e.code === "ENOENT" && e.op === "mkdir" && parentOf(rel) !== undefined,
        () => ensureDir(h, parentOf(rel)!, created).pipe(Effect.zipRight(ensureDir(h, rel, created)))
      )
    )
  }

  /** Reads the group's devices.list and writes what takes it to exactly `rules`. */
  const applyDevices = (dir: string, rules: ReadonlyArray<DeviceRule>) =>
    fs.read(`${dir}/devices.list`).pipe(
      Effect.flatMap((text) =>
        Either.match(parseDevicesList(text), {
          onLeft: (message) => Effect.fail(new CgroupError({ op: "read", path: `${dir}/devices.list`, message })),
          onRight: (current) =>
            Effect.forEach(
              consecutiveRuns(v1DeviceWrites(current, rules)),
              (run) => fs.writeEach(`${dir}/${run.file}`, run.values),
              { discard: true }
            )
        })
      )
    )

  const ensure = (path: CgroupPath, limits: CgroupLimits = {}) =>
    validated(path, () => {
      const writes = v1Writes(limits)
      if (Either.isLeft(writes)) {
        return Effect.fail(
          new CgroupError({ op: "validate", path: relativeDir(base, path), code: "EINVAL", message: writes.left })
        )
      }
      const devices = limits.devices === undefined ? undefined : validateDeviceRules(limits.devices)
      if (devices !== undefined && Either.isLeft(devices)) {
        return Effect.fail(
          new CgroupError({ op: "validate", path: relativeDir(base, path), code: "EINVAL", message: devices.left })
        )
      }
      const devicesHierarchy = hierarchies.find((h) => h.controllers.includes("devices"))
      if (devices !== undefined && devicesHierarchy === undefined) {
        return Effect.fail(
          new CgroupError({
            op: "create",
            path: relativeDir(base, path),
            code: "ENOTSUP",
            message: "a device policy needs the devices controller, which is not mounted on this host"
          })
        )
      }
      const missing = writes.right.find((w) => of(w.controller) === undefined)
      if (missing !== undefined) {
        return Effect.fail(
          new CgroupError({
            op: "create",
            path: relativeDir(base, path),
            code: "ENOTSUP",
            message: `${missing.file} needs the ${missing.controller} controller, which is not mounted on this host`
          })
        )
      }
      const rel = relativeDir(base, path)
      return undoOnFailure(fs, (created) =>
        Effect.forEach(
          hierarchies,
          (h) =>
            ensureDir(h, rel, created).pipe(
              // writes within a hierarchy stay in order (cpu period before quota)
              Effect.zipRight(
                Effect.forEach(
                  writes.right.filter((w) => h.controllers.includes(w.controller)),
                  (w) => fs.write(`${h.mountPoint}/${rel}/${w.file}`, w.value),
                  { discard: true }
                )
              ),
              Effect.zipRight(
                devices !== undefined && h === devicesHierarchy
                  ? applyDevices(`${h.mountPoint}/${rel}`, devices.right)
                  : Effect.void
              )
            ),
          // In order, not side by side: the calls are synchronous (fs.ts), so a fiber per hierarchy
          // bought no overlap and cost a fork and a join each (issue 21: the agent's CPU per start).
          { discard: true }
        )).pipe(Effect.as(handleOf(path)))
    })

  const remove = (path: CgroupPath, options?: RemoveOptions) =>
    validated(path, () => {
      const children = path.container === undefined ? options?.children ?? [] : []
      const invalid = children.map((container) => validatePath({ pod: path.pod, container })).find((e) => e)
      if (invalid !== undefined) return Effect.fail(invalid)
      const settings = { force: options?.force ?? false, timeout, cgroupKill: false }
      return path.container === undefined
        ? removeTree(fs, dirsOf(path), settings, children)
        : removeTree(fs, dirsOf(path), settings).pipe(
          Effect.zipRight(removeIfChildless(fs, dirsOf({ pod: path.pod }), { ...settings, force: false }))
        )
    })

  const fileIn = (c: Controller, path: CgroupPath, file: string) => {
    const h = of(c)
    return h === undefined
      ? Effect.succeed(undefined)
      : readOptional(fs, `${h.mountPoint}/${relativeDir(base, path)}/${file}`)
  }

  const stats = (path: CgroupPath) =>
    validated(path, () =>
      Effect.gen(function*() {
        const files = yield* Effect.all({
          "cpuacct.usage": fileIn("cpuacct", path, "cpuacct.usage"),
          "cpu.stat": fileIn("cpu", path, "cpu.stat"),
          "memory.usage_in_bytes": fileIn("memory", path, "memory.usage_in_bytes"),
          "memory.max_usage_in_bytes": fileIn("memory", path, "memory.max_usage_in_bytes"),
          "memory.limit_in_bytes": fileIn("memory", path, "memory.limit_in_bytes"),
          "memory.oom_control": fileIn("memory", path, "memory.oom_control"),
          "pids.current": fileIn("pids", path, "pids.current"),
          "pids.max": fileIn("pids", path, "pids.max")
        }, { concurrency: "unbounded" })
        if (Object.values(files).every((v) => v === undefined)) {
          return yield* new CgroupError({
            op: "stats",
            path: relativeDir(base, path),
            code: "ENOENT",
            message: `no cgroup ${relativeDir(base, path)} in any hierarchy`
          })
        }
        // v1 counts OOM kills per group only: a pod group adds its containers' counts
        const memory = of("memory")
        const children = path.container !== undefined || memory === undefined
          ? []
          : yield* subdirsOptional(fs, `${memory.mountPoint}/${relativeDir(base, path)}`)
        const childOom = yield* Effect.forEach(
          children,
          (c) =>
            fileIn("memory", { pod: path.pod, container: c }, "memory.oom_control").pipe(
              Effect.map((t) => (t === undefined ? 0 : parseCount(parseFlatKeyed(t).get("oom_kill")) ?? 0))
            ),
          { concurrency: "unbounded" }
        )
        return v1Stats(files, childOom)
      }))

  return {
    driver: "v1",
    controllers: Effect.succeed(controllers),
    create: scopedCreate(ensure, remove),
    ensure,
    handle: (path) => validated(path, () => Effect.succeed(handleOf(path))),
    addProcess: (handle, pid) => Effect.forEach(handle.procsFiles, (f) => fs.write(f, String(pid)), { discard: true }),
    stats,
    list: Effect.forEach(hierarchies, (h) => subdirsOptional(fs, `${h.mountPoint}/${base}`), {
      concurrency: "unbounded"
    }).pipe(Effect.map((lists) => [...new Set(lists.flat())].sort())),
    remove
  }
}
