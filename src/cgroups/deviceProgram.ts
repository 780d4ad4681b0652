/**
 * The v2 driver's device port: put a device allow list on a cgroup2 directory. cgroup2 has no
 * device controller; the kernel asks the BPF_PROG_TYPE_CGROUP_DEVICE programs attached to the
 * task's group and its ancestors instead. Node cannot call bpf(2), so the default implementation
 * runs the native helper's one-shot mode (native/PROTOCOL.md §12):
 *
 *   tank-helper cgroup-devices --dir ABS [--allow "c 1:3 rwm"]...
 *
 * which loads a deny-by-default program allowing exactly those rules, attaches it with
 * BPF_F_ALLOW_MULTI and detaches the programs attached there before, so re-applying replaces.
 */
import { Effect, Either, Schema } from "effect"
import { spawn } from "node:child_process"
import { constants } from "node:os"
import { helperPathCandidate } from "../runtime/helper/binary.js"
import type { DeviceRule } from "./devices.js"
import { formatDeviceRule } from "./devices.js"
import { CgroupError } from "./model.js"

/** Replaces the device policy of the cgroup2 directory `dir` with exactly `rules`. */
export type DeviceAttacher = (dir: string, rules: ReadonlyArray<DeviceRule>) => Effect.Effect<void, CgroupError>

const Ok = Schema.Struct({
  ok: Schema.Literal(true),
  programId: Schema.Number,
  detached: Schema.Array(Schema.Number)
})
const Failure = Schema.Struct({
  error: Schema.Struct({
    step: Schema.String,
    errno: Schema.Number,
    message: Schema.String,
    log: Schema.optionalWith(Schema.String, { exact: true })
  })
})
const Line = Schema.parseJson(Schema.Union(Ok, Failure))

const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]))

export const cgroupDevicesArgs = (dir: string, rules: ReadonlyArray<DeviceRule>): ReadonlyArray<string> => [
  "cgroup-devices",
  "--dir",
  dir,
  ...rules.flatMap((r) => ["--allow", formatDeviceRule(r)])
]

const run = (helper: string, args: ReadonlyArray<string>) =>
  Effect.async<{ out: string; err: string; code: number | null }, CgroupError>((resume) => {
    const child = spawn(helper, [...args], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d))
    child.on("error", (e) =>
      resume(Effect.fail(
        new CgroupError({
          op: "devices",
          path: helper,
          ...((e as NodeJS.ErrnoException).code === undefined ? {} : { code: (e as NodeJS.ErrnoException).code! }),
          message: `cannot run the native helper ${helper} (run \`make -C native\`): ${e.message}`
        })
      )))
    child.on("close", (code) => resume(Effect.succeed({ out, err, code })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/**
 * The helper-backed attacher. `helper` defaults to the helper binary Tank uses everywhere
 * (`$TANK_HELPER`, else `native/tank-helper` of this package), looked up at each call.
 */
export const helperDeviceAttacher = (helper?: string): DeviceAttacher => (dir, rules) =>
  Effect.gen(function*() {
    const bin = helper ?? helperPathCandidate()
    const r = yield* run(bin, cgroupDevicesArgs(dir, rules))
    const line = r.out.split("\n")[0] ?? ""
    const decoded = Schema.decodeUnknownEither(Line)(line)
    if (Either.isLeft(decoded)) {
      return yield* new CgroupError({
        op: "devices",
        path: dir,
        message: `tank-helper cgroup-devices gave no result line (exit ${r.code}): ${
          JSON.stringify(line || r.err.trim())
        }`
      })
    }
    if ("error" in decoded.right) {
      const e = decoded.right.error
      const code = errnoNames.get(e.errno)
      return yield* new CgroupError({
        op: "devices",
        path: dir,
        ...(code === undefined ? {} : { code }),
        message: `device policy on ${dir}: ${e.step}: ${e.message}${e.log === undefined ? "" : `\n${e.log}`}`
      })
    }
  })
