/**
 * exec, attacked from inside a real pod (root): the terminal-injection attack (TIOCSTI: push bytes
 * into the input of whatever terminal the process can reach, to have the operator's shell run them
 * after `tank exec` returns) through the real `tank` CLI in a real terminal (tmux, a shell reading
 * afterwards), without and with -t; and the caller's environment never reaches the container.
 *
 * The control run of the same probe straight in that terminal shows the attack works on this
 * kernel (dev.tty.legacy_tiocsti=1): the marker file appears. Through `tank exec` it must not.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { execCapture } from "../../src/exec/Exec.js"
import { buildCli } from "../cli/harness.js"
import { probe } from "../support/probe.js"
import { tmpDir } from "../support/tmp.js"
import { Machine, MachineLive, onMachine, probeRootfs, startSleeper } from "./support.js"

const hasTmux = spawnSync("tmux", ["-V"]).status === 0
const SECRET = "TANK_OPERATOR_SECRET"

/** A tmux server of our own running `sh` with `env`, killed when the scope closes. */
const terminal = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const sock = `tank-sec-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
      const tmux = (...args: Array<string>) => execFileSync("tmux", ["-L", sock, ...args], { encoding: "utf8" })
      tmux(
        "new-session",
        "-d",
        "-x",
        "200",
        "-y",
        "50",
        "env",
        "-i",
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        "/bin/sh"
      )
      return {
        type: (line: string) => tmux("send-keys", "-t", "0", "-l", line + "\n"),
        screen: () => tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "0"),
        kill: () => spawnSync("tmux", ["-L", sock, "kill-server"])
      }
    }),
    (t) => Effect.sync(() => t.kill())
  )

const waitFor = (what: string, check: () => boolean, ms = 20_000) =>
  Effect.promise(async () => {
    const end = Date.now() + ms
    while (Date.now() < end) {
      if (check()) return true
      await new Promise((r) => setTimeout(r, 50))
    }
    return false
  }).pipe(Effect.flatMap((ok) => ok ? Effect.void : Effect.die(new Error(`timed out waiting for ${what}`))))

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("exec isolation (live, root)", (it) => {
  it.scoped.skipIf(!hasTmux)(
    "TIOCSTI through `tank exec` (no -t, then -t) injects nothing into the operator's shell; the control does",
    () =>
      Effect.gen(function*() {
        const { env } = yield* Machine
        const rootfs = yield* probeRootfs
        const { name } = yield* startSleeper(rootfs, "ex-sti")
        const cli = yield* Effect.acquireRelease(Effect.sync(buildCli), (c) => Effect.sync(c.cleanup))
        const dir = yield* tmpDir("tank-sec-sti-")
        const marker = (n: string) => path.join(dir, `injected-${n}`)
        const term = yield* terminal({
          PATH: process.env["PATH"] ?? "/usr/bin:/bin",
          TANK_DATA_DIR: env.dataDir,
          [SECRET]: "hunter2"
        })
        const tank = `${process.execPath} ${cli.entry}`

        // Control: the probe on the host, in this terminal. The shell runs the injected line.
        term.type(`${probe("tiocsti")} 'touch ${marker("control")}\\n'; echo DONE-control`)
        yield* waitFor("the control's marker", () => fs.existsSync(marker("control")))

        // Through tank exec, without a terminal: the probe has no controlling tty, no tty on 0-2.
        term.type(`${tank} exec ${name} -- /probe/tiocsti 'touch ${marker("pipes")}\\n'; echo DONE-pipes`)
        yield* waitFor("exec to return", () => /^DONE-pipes$/m.test(term.screen()))
        assert.match(term.screen(), /\{"devtty":"ENXIO","fds":"none","injected":0\}/)

        // With -t: the probe gets the container's own terminal, and may inject into that one only.
        term.type(`${tank} exec -t ${name} -- /probe/tiocsti 'touch ${marker("tty")}\\n'; echo DONE-tty`)
        yield* waitFor("exec -t to return", () => /^DONE-tty$/m.test(term.screen()))
        assert.match(term.screen(), /\{"devtty":"ok","fds":"ok","injected":\d+\}/)

        // Give an injected line every chance to run in the operator's shell, then look.
        term.type(`echo SETTLED`)
        yield* waitFor("the shell to settle", () => /^SETTLED$/m.test(term.screen()))
        yield* Effect.sleep("500 millis")
        assert.isFalse(fs.existsSync(marker("pipes")), term.screen())
        assert.isFalse(fs.existsSync(marker("tty")), term.screen())

        // The operator's environment stays out of the container (CLI, no -t).
        term.type(
          `${tank} exec ${name} -- sh -c 'tr "\\\\0" "\\\\n" < /proc/self/environ | sort | tr "\\\\n" " "; echo; echo DONE-env'`
        )
        yield* waitFor("env to print", () => /^DONE-env$/m.test(term.screen()))
        assert.notInclude(term.screen().split("DONE-env")[0]!.split("'; echo DONE-env'").pop()!, "hunter2")
      }),
    { timeout: 120_000 }
  )

  it.scoped("execCapture: the caller's environment is not the command's, which has no terminal and pipes for stdio", () =>
    Effect.gen(function*() {
      const rootfs = yield* probeRootfs
      const { name } = yield* startSleeper(rootfs, "ex-env", { env: { FROM_SPEC: "yes" } })
      process.env[SECRET] = "hunter2"
      try {
        const r = yield* onMachine(execCapture(name, [
          "sh",
          "-c",
          "tr '\\0' '\\n' < /proc/self/environ; echo ---; for f in 0 1 2; do readlink /proc/self/fd/$f; done; cut -d' ' -f7 /proc/self/stat"
        ], { env: { FROM_EXEC: "1" } }))
        const [environ, rest] = r.stdout.split("---\n")
        assert.notInclude(environ!, "hunter2")
        assert.include(environ!, "FROM_SPEC=yes")
        assert.include(environ!, "FROM_EXEC=1")
        const lines = rest!.trim().split("\n")
        for (const fd of lines.slice(0, 3)) assert.match(fd, /^pipe:\[\d+\]$/)
        assert.strictEqual(lines[3], "0") // tty_nr: no controlling terminal
      } finally {
        delete process.env[SECRET]
      }
    }))
})
