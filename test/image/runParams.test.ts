/** The OCI run-parameter merge (seeds' oci_test cases, plus Docker's null fields). */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { argvOf, mergeEnv, NoCommand, runParams, type RunSpec, stopSignalNumber } from "../../src/image/runParams.js"

const spec = (over: Partial<RunSpec> = {}): RunSpec => ({ name: "app", command: [], args: [], env: {}, ...over })
const image = { Entrypoint: ["/bin/app"], Cmd: ["--serve"] }
const ok = (r: ReturnType<typeof runParams>) => Either.getOrThrow(r)

describe("runParams", () => {
  it("runs the image Entrypoint + Cmd without overrides", () => {
    expect(ok(runParams(spec(), image)).argv).toEqual(["/bin/app", "--serve"])
  })

  it("command replaces the Entrypoint and drops the Cmd", () => {
    expect(ok(runParams(spec({ command: ["/bin/sleep", "60"] }), image)).argv).toEqual(["/bin/sleep", "60"])
  })

  it("command + args", () => {
    expect(ok(runParams(spec({ command: ["/bin/sh"], args: ["-c", "echo hi"] }), image)).argv)
      .toEqual(["/bin/sh", "-c", "echo hi"])
  })

  it("args replace the Cmd after the image Entrypoint", () => {
    expect(ok(runParams(spec({ args: ["--debug"] }), image)).argv).toEqual(["/bin/app", "--debug"])
    expect(argvOf(spec({ args: ["x"] }), { Entrypoint: null, Cmd: ["sh"] })).toEqual(["x"])
  })

  it("fails with NoCommand when neither gives a command", () => {
    for (const img of [undefined, null, {}, { Entrypoint: null, Cmd: null }, { Entrypoint: [], Cmd: [] }]) {
      const r = runParams(spec(), img)
      expect(Either.isLeft(r) && r.left).toBeInstanceOf(NoCommand)
      expect(Either.isLeft(r) && r.left.message).toMatch(/container "app"/)
    }
    expect(Either.isLeft(runParams(spec(), { Cmd: [""] }))).toBe(true)
  })

  it("merges env: image first, spec wins in place, entries without '=' become K=", () => {
    const r = ok(runParams(spec({ env: { TZ: "Europe/Amsterdam", EXTRA: "1" } }), {
      ...image,
      Env: ["PATH=/usr/bin", "TZ=UTC", "EMPTY", "=bad", "EQ=a=b"]
    }))
    expect(r.env).toEqual(["PATH=/usr/bin", "TZ=Europe/Amsterdam", "EMPTY=", "EQ=a=b", "EXTRA=1"])
    expect(mergeEnv(null, { A: "1" })).toEqual(["A=1"])
  })

  it("working dir: spec, then image WorkingDir, then /", () => {
    expect(ok(runParams(spec({ workingDir: "/app" }), { ...image, WorkingDir: "/srv" })).cwd).toBe("/app")
    expect(ok(runParams(spec(), { ...image, WorkingDir: "/srv" })).cwd).toBe("/srv")
    expect(ok(runParams(spec(), { ...image, WorkingDir: "" })).cwd).toBe("/")
    expect(ok(runParams(spec(), { ...image, WorkingDir: "rel/dir" })).cwd).toBe("/rel/dir")
    expect(ok(runParams(spec(), image)).cwd).toBe("/")
  })

  it("a missing or null image config with a command gives argv, cwd / and no env", () => {
    for (const img of [undefined, null, {}]) {
      expect(ok(runParams(spec({ command: ["/bin/sh"] }), img))).toEqual({
        argv: ["/bin/sh"],
        env: [],
        cwd: "/",
        user: undefined,
        stopSignal: undefined
      })
    }
  })

  it("user: spec over image User; stop signal from the image", () => {
    const img = { ...image, User: "tank", StopSignal: "SIGQUIT" }
    expect(ok(runParams(spec(), img))).toMatchObject({ user: "tank", stopSignal: "SIGQUIT" })
    expect(ok(runParams(spec({ user: "1000:1000" }), img)).user).toBe("1000:1000")
    expect(ok(runParams(spec(), { ...image, User: "" })).user).toBeUndefined()
  })
})

describe("stopSignalNumber", () => {
  it("reads docker's spellings: names with or without SIG, any case, numbers, real-time offsets", () => {
    const n = (s: string | undefined) => Either.getOrThrow(stopSignalNumber(s))
    expect(n(undefined)).toBe(15)
    expect([n("SIGQUIT"), n("quit"), n("3"), n(" SIGUSR1 ")]).toEqual([3, 3, 3, 10])
    expect([n("SIGRTMIN"), n("SIGRTMIN+3"), n("RTMAX-1"), n("SIGKILL")]).toEqual([34, 37, 63, 9])
  })

  it("refuses what is no signal, saying so", () => {
    for (const s of ["SIGNOPE", "0", "65", "SIGRTMAX+1", "RTMIN-1", ""]) {
      expect(Either.isLeft(stopSignalNumber(s)), s).toBe(true)
    }
    expect(stopSignalNumber("SIGNOPE")).toEqual(Either.left(`StopSignal "SIGNOPE" is not a signal name or number`))
  })
})
