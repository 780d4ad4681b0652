/**
 * Shared pieces of the networking-services e2e tests: an agent whose network plumbing (bridges,
 * shims, nftables, DNS) lives in the test LAN's hub namespace (the namespace that plays the host),
 * restartable with live restore, its log lines collected; exec into pods; dnsmasq in a namespace.
 */
import { Context, Effect, ExecutionStrategy, Exit, Layer, Logger, Option, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Agent from "../../src/agent/Agent.js"
import type { TankConfigShape } from "../../src/config/Config.js"
import * as Config from "../../src/config/Config.js"
import { type NetworkConfigFile, resolveNetwork } from "../../src/config/network.js"
import { execCapture } from "../../src/exec/Exec.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { type Lan, type Netns, run, runOk } from "../support/lan.js"
import { alive, until } from "../support/poll.js"
import type { TankEnv } from "../support/tankEnv.js"

export const fast = { backoffBaseMs: 300, backoffCapMs: 2_000, stableWindowMs: 60_000, resyncIntervalMs: 1_000 }

export const netConfig = (env: TankEnv, lan: Lan, network: NetworkConfigFile): TankConfigShape => ({
  ...env.config,
  host: { uplink: lan.parent, dns: [] },
  network: resolveNetwork(network),
  reconciler: { ...env.config.reconciler, ...fast }
})

export interface RunningAgent {
  readonly store: Store["Type"]
  /** Leaves with live restore: the pods keep running. */
  readonly stop: Effect.Effect<void>
}

/** An agent over `config` with its network plumbing in the hub; log lines go to `logs`. */
export const startAgent = (config: TankConfigShape, lan: Lan, logs: Array<string>) =>
  Effect.gen(function*() {
    // Tied to the test's scope: a failing test still stops the agent (before tankEnv sweeps its pods).
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const collect = Logger.make(({ message }) => {
      logs.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    const ctx = yield* Layer.build(Agent.layer({
      config,
      runtime: { parentNetns: lan.hub.path },
      network: { hostNetns: lan.hub.path, refreshInterval: "200 millis" }
    })).pipe(Scope.extend(scope), Effect.provide(Logger.replace(Logger.defaultLogger, collect)))
    return { store: Context.get(ctx, Store), stop: Scope.close(scope, Exit.void) } satisfies RunningAgent
  })

export const status = (store: Store["Type"], name: string) =>
  store.getStatus(name).pipe(Effect.map(Option.getOrUndefined))

export const running = (s: PodStatus | undefined) => s?.phase === "running" && alive(s.hostPid)

export const waitRunning = (store: Store["Type"], name: string, ms = 30_000) =>
  until(`${name} running`, status(store, name), running, ms)

/** A shell command in a pod's first container, output captured. */
export const inPod = (config: TankConfigShape, pod: string, cmd: string) =>
  execCapture(pod, ["sh", "-c", cmd], {}).pipe(Effect.provide(Layer.succeed(Config.TankConfig, config)))

/** `ip netns exec <ns> <args>`. */
export const inNs = (ns: Netns, args: ReadonlyArray<string>, input?: string) =>
  run("ip", ["netns", "exec", ns.name, ...args], input === undefined ? {} : { input })

/** dnsmasq in `ns` on `address`:53, answering `names` itself and nothing else; stopped with the Scope. */
export const dnsmasq = (ns: Netns, address: string, names: Readonly<Record<string, string>>, dir: string) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const pidFile = path.join(dir, `dnsmasq-${ns.name}.pid`)
      yield* runOk("ip", [
        "netns",
        "exec",
        ns.name,
        "dnsmasq",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        `--listen-address=${address}`,
        "--port=53",
        `--pid-file=${pidFile}`,
        "--user=root",
        ...Object.entries(names).map(([n, ip]) => `--address=/${n}/${ip}`)
      ])
      return pidFile
    }),
    (pidFile) =>
      Effect.sync(() => {
        try {
          process.kill(Number(fs.readFileSync(pidFile, "utf8").trim()), "SIGTERM")
        } catch {
          // already gone
        }
      })
  )

/** A veth from the hub to a new namespace: hub side `hubIp`/24, far side `farIp`/24. */
export const outside = (lan: Lan, label: string, hubLink: string, hubIp: string, farIp: string) =>
  Effect.gen(function*() {
    const ns = yield* lan.podNetns(label)
    yield* runOk("ip", [
      "-n",
      lan.hub.name,
      "link",
      "add",
      hubLink,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      ns.name
    ])
    yield* runOk("ip", ["-n", lan.hub.name, "addr", "add", `${hubIp}/24`, "dev", hubLink])
    yield* runOk("ip", ["-n", lan.hub.name, "link", "set", hubLink, "up"])
    yield* runOk("ip", ["-n", ns.name, "addr", "add", `${farIp}/24`, "dev", "eth0"])
    yield* runOk("ip", ["-n", ns.name, "link", "set", "eth0", "up"])
    yield* runOk("ip", ["-n", ns.name, "link", "set", "lo", "up"])
    return ns
  })
