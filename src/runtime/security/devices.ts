/**
 * Host devices passed through on purpose (`devices:` in a container spec): each named path must
 * be a character or block device on the agent's host. It becomes a node in the container's /dev
 * (same path, numbers, mode and owner as the host's) and one allow rule in its device cgroup.
 */
import { Effect, Either, Schema } from "effect"
import { DEFAULT_DEVICE_RULES, type DeviceRule } from "../../cgroups/Cgroups.js"
import { statDevice } from "../../config/hostDevices.js"
import type { Device } from "../../spec/security.js"
import type { DeviceNode } from "../helper/schema.js"

/** A device the container may use: the node to make and the cgroup permissions to grant. */
export interface PassedDevice {
  readonly node: DeviceNode
  readonly permissions: string
}

/** A `devices:` entry this host cannot honour; `field` names it (`containers[0].devices[1].path`). */
export class DeviceProblem extends Schema.TaggedError<DeviceProblem>()("DeviceProblem", {
  field: Schema.String,
  message: Schema.String
}) {}

/** Linux's dev_t split (glibc's gnu_dev_major/minor). */
export const majorOf = (rdev: number): number =>
  Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn))
export const minorOf = (rdev: number): number => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn))

export const passDevices = (
  devices: ReadonlyArray<Device>,
  field: string
): Effect.Effect<ReadonlyArray<PassedDevice>, DeviceProblem> =>
  Effect.forEach(devices, (d, i) =>
    Either.match(statDevice(d.path), {
      onLeft: (message) => Effect.fail(new DeviceProblem({ field: `${field}[${i}].path`, message })),
      onRight: (st) =>
        Effect.succeed({
          node: {
            path: d.path,
            type: st.isBlockDevice() ? "b" as const : "c" as const,
            major: majorOf(st.rdev),
            minor: minorOf(st.rdev),
            fileMode: st.mode & 0o7777,
            uid: st.uid,
            gid: st.gid
          },
          permissions: d.permissions
        })
    }))

/** A cgroup's device policy: the default allow-list (runc's) plus exactly these devices. */
export const deviceRules = (passed: ReadonlyArray<PassedDevice>): ReadonlyArray<DeviceRule> => [
  ...DEFAULT_DEVICE_RULES,
  ...passed.map((d): DeviceRule => ({
    type: d.node.type,
    major: d.node.major,
    minor: d.node.minor,
    access: d.permissions
  }))
]
