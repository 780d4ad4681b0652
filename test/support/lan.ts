/**
 * A test LAN that exists only inside namespaces the test creates (reference/infra.md §3b).
 *
 *   hub netns  tank-t-<pid>-<id>-hub : veth tkp0<->tkp1 (LAN A, 10.250.0.0/24) and tkq0<->tkq1 (LAN B, 10.251.0.0/24),
 *                                all up; tkp0 and tkq0 are the macvlan parents (this kernel has no `dummy`).
 *   LAN host   tank-t-<pid>-<id>-lan : eth0, a bridge-mode macvlan on tkp0, 10.250.0.1/24 (the pods' gateway).
 *   pods       tank-t-<pid>-<id>-<label> : empty namespaces from `podNetns`, for the code under test to configure.
 *
 * Namespaces are pinned by `ip netns add` under /run/netns. Names carry a random id, so test files running in
 * parallel never collide; link names need no uniqueness since every link lives in a private namespace.
 * Everything is deleted when the Scope closes, whether the test passed or not. The fixture deliberately
 * uses `ip` (not Tank's own netlink code) so it is an independent oracle for the code under test.
 */
import { Effect, type Scope } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, readdirSync } from "node:fs"

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to completion; never fails on a non-zero exit (the caller looks at `code`). */
export const run = (
  file: string,
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly timeoutMs?: number } = {}
): Effect.Effect<RunResult> =>
  Effect.async<RunResult>((resume) => {
    const child = execFile(file, [...args], { timeout: options.timeoutMs ?? 10_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    // A command that exits without reading its stdin makes the write fail with EPIPE: that is fine.
    child.stdin?.on("error", () => {})
    if (options.input === undefined) child.stdin?.end()
    else child.stdin?.end(options.input)
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Runs a command and dies (a fixture defect, not a test failure) if it exits non-zero. */
export const runOk = (file: string, args: ReadonlyArray<string>): Effect.Effect<string> =>
  run(file, args).pipe(
    Effect.flatMap((r) =>
      r.code === 0
        ? Effect.succeed(r.stdout)
        : Effect.dieMessage(`${file} ${args.join(" ")}: exit ${r.code}: ${r.stderr}`)
    )
  )

export interface Netns {
  readonly name: string
  /** The pin: /run/netns/<name>. */
  readonly path: string
}

export interface Lan {
  readonly id: string
  readonly hub: Netns
  /** LAN A's macvlan parent, inside the hub. */
  readonly parent: string
  /** LAN B's macvlan parent, inside the hub. */
  readonly parent2: string
  readonly lanHost: Netns & { readonly address: string; readonly cidr: string }
  /** A fresh, empty netns (only lo, down), deleted when the Scope closes. */
  readonly podNetns: (label: string) => Effect.Effect<Netns, never, Scope.Scope>
  /** `ip netns exec <ns> busybox <args>` to completion, with `input` on stdin. */
  readonly busybox: (ns: Netns, args: ReadonlyArray<string>, input?: string) => Effect.Effect<RunResult>
  /**
   * GET http://<ip>:<port><path> from inside `ns`, with busybox nc speaking HTTP/1.0 (Debian's static busybox
   * `wget` segfaults in glibc's static NSS, even for an IP literal). Fails unless the status is 200.
   */
  readonly httpGet: (ns: Netns, ip: string, port: number, path?: string) => Effect.Effect<string, RunResult | string>
  /** Starts `busybox <args>` in `ns` in the background; killed when the Scope closes. */
  readonly spawnBusybox: (ns: Netns, args: ReadonlyArray<string>) => Effect.Effect<ChildProcess, never, Scope.Scope>
  /** `ip -n <ns> -o link show` names (without the @peer suffix), sorted. */
  readonly linkNames: (ns: Netns) => Effect.Effect<ReadonlyArray<string>>
}

export const BUSYBOX = "/bin/busybox"

const netns = (name: string): Effect.Effect<Netns, never, Scope.Scope> =>
  Effect.acquireRelease(
    runOk("ip", ["netns", "add", name]).pipe(Effect.as({ name, path: `/run/netns/${name}` })),
    // `ip netns del` destroys the namespace's links (macvlans and veths) with it.
    () => run("ip", ["netns", "del", name])
  )

const linkNames = (ns: Netns) =>
  runOk("ip", ["-n", ns.name, "-o", "link", "show"]).pipe(
    Effect.map((out) =>
      out.split("\n").filter((l) => l.trim() !== "").map((l) => l.split(":")[1]!.trim().split("@")[0]!).sort()
    )
  )

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/**
 * Deletes test namespaces left by test processes that died without running their finalizers (SIGKILL,
 * a CI timeout). Names carry the creating pid; only namespaces of dead pids are touched.
 */
export const sweepStale: Effect.Effect<void> = Effect.gen(function*() {
  const names = yield* Effect.sync(() => existsSync("/run/netns") ? readdirSync("/run/netns") : [])
  for (const name of names) {
    const m = /^tank-t-(\d+)-[0-9a-f]{8}-/.exec(name)
    if (m !== null && !alive(Number(m[1]))) yield* run("ip", ["netns", "del", name])
  }
})

export const makeLan: Effect.Effect<Lan, never, Scope.Scope> = Effect.gen(function*() {
  yield* sweepStale
  const id = randomBytes(4).toString("hex")
  const prefix = `tank-t-${process.pid}-${id}`
  const hub = yield* netns(`${prefix}-hub`)
  const ipHub = (...args: Array<string>) => runOk("ip", ["-n", hub.name, ...args])
  for (const [a, b] of [["tkp0", "tkp1"], ["tkq0", "tkq1"]] as const) {
    yield* ipHub("link", "add", a, "type", "veth", "peer", "name", b)
    yield* ipHub("link", "set", a, "up")
    yield* ipHub("link", "set", b, "up")
  }
  const lan = yield* netns(`${prefix}-lan`)
  yield* ipHub("link", "add", "link", "tkp0", "name", "eth0", "netns", lan.name, "type", "macvlan", "mode", "bridge")
  yield* runOk("ip", ["-n", lan.name, "link", "set", "lo", "up"])
  yield* runOk("ip", ["-n", lan.name, "addr", "add", "10.250.0.1/24", "dev", "eth0"])
  yield* runOk("ip", ["-n", lan.name, "link", "set", "eth0", "up"])

  const busybox = (ns: Netns, args: ReadonlyArray<string>, input?: string) =>
    run("ip", ["netns", "exec", ns.name, BUSYBOX, ...args], input === undefined ? {} : { input })
  const httpGet = (ns: Netns, ip: string, port: number, path = "/") =>
    busybox(ns, ["nc", "-w", "2", ip, String(port)], `GET ${path} HTTP/1.0\r\nHost: ${ip}\r\n\r\n`).pipe(
      Effect.flatMap((r): Effect.Effect<string, RunResult | string> => {
        if (r.code !== 0) return Effect.fail(r)
        const [head = "", ...body] = r.stdout.split("\r\n\r\n")
        return /^HTTP\/1\.[01] 200 /.test(head) ? Effect.succeed(body.join("\r\n\r\n")) : Effect.fail(head)
      })
    )
  const spawnBusybox = (ns: Netns, args: ReadonlyArray<string>) =>
    Effect.acquireRelease(
      Effect.sync(() => spawn("ip", ["netns", "exec", ns.name, BUSYBOX, ...args], { stdio: "ignore" })),
      // `ip netns exec` execs the command, so the child's pid is busybox itself.
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
  return {
    id,
    hub,
    parent: "tkp0",
    parent2: "tkq0",
    lanHost: { ...lan, address: "10.250.0.1", cidr: "10.250.0.1/24" },
    podNetns: (label: string) => netns(`${prefix}-${label}`),
    busybox,
    httpGet,
    spawnBusybox,
    linkNames
  }
})
