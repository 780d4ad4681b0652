/**
 * A recording test double of the `Libc` service: every call is recorded (name and arguments) and
 * answered by a script, which returns an errno name to fail with ("EBUSY") or undefined to succeed.
 * For the failure paths the real kernel gives only a broken, root-owned machine.
 */
import { Effect, Layer } from "effect"
import { constants } from "node:os"
import { Libc, LibcError, type LibcService } from "../../src/host/libc.js"

export interface LibcCall {
  readonly call: keyof LibcService
  readonly args: ReadonlyArray<string | number>
}

export type LibcScript = (call: LibcCall) => keyof typeof constants.errno | undefined

export interface RecordingLibc {
  readonly calls: ReadonlyArray<LibcCall>
  readonly layer: Layer.Layer<Libc>
}

export const recordingLibc = (script: LibcScript = () => undefined): RecordingLibc => {
  const calls: Array<LibcCall> = []
  const record = (call: LibcCall, target: string) =>
    Effect.suspend(() => {
      calls.push(call)
      const code = script(call)
      return code === undefined ? Effect.void : Effect.fail(LibcError.of(call.call, target, constants.errno[code]))
    })
  const service: LibcService = {
    mount: (source, target, fstype, flags, data) =>
      record({ call: "mount", args: [source, target, fstype, flags, data] }, target),
    umount2: (target, flags) => record({ call: "umount2", args: [target, flags] }, target),
    flock: (fd, operation) => record({ call: "flock", args: [fd, operation] }, `fd ${fd}`)
  }
  return { calls, layer: Layer.succeed(Libc, service) }
}
