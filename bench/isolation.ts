/**
 * Bench: what isolation costs per container start, measured where it is paid. Run as root:
 * `npx tsx bench/isolation.ts [runs=60]`.
 *
 * - The monitor's start-to-exit of `/bin/true` on a busybox rootfs (clone, mounts, identity change,
 *   execve, reap), with Tank's defaults (the compiled seccomp filter loaded, no_new_privs, rlimits,
 *   the cgroup namespace) and without them, interleaved run by run so machine drift hits both alike.
 *   No cgroups, network or agent: the difference is the filter and friends alone.
 * - Applying the device policy to a fresh pod cgroup (v1 here: devices.deny/allow writes; v2: the BPF
 *   program through `tank-helper cgroup-devices`) and creating a container group that inherits it,
 *   against the same two groups without a policy. Paid once per pod.
 * - Compiling docker's profile (paid once per distinct resolved profile, then cached).
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { Cgroups, DEFAULT_DEVICE_RULES } from "../src/cgroups/Cgroups.js"
import { capabilitiesFor, DEFAULT_CAPABILITIES } from "../src/runtime/helper/defaults.js"
import { containerRlimits, parseHardLimits } from "../src/runtime/security/rlimits.js"
import { DEFAULT_PROFILE } from "../src/runtime/security/seccompProfile.js"
import { compiledProgram, hostFacts } from "../src/runtime/security/seccompProgram.js"
import { resolveProfile } from "../src/runtime/security/seccompResolve.js"
import { runToExit } from "../test/native/harness.js"
import { buildBusyboxRootfs } from "../test/native/rootfs.js"
import { fmt, median, ratio, report } from "./report.js"

const runs = Number(process.argv[2] ?? 60)

const program = Effect.gen(function*() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-iso-"))
  try {
    const lower = path.join(work, "rootfs")
    buildBusyboxRootfs(lower)
    const oci = resolveProfile(DEFAULT_PROFILE, DEFAULT_CAPABILITIES, hostFacts())
    const t0 = performance.now()
    const seccomp = yield* compiledProgram(path.join(work, "data"), oci, "bench")
    const compileMs = performance.now() - t0
    const rlimits = containerRlimits(undefined, parseHardLimits(fs.readFileSync("/proc/self/limits", "utf8")))
    const confined = { argv: ["/bin/true"], seccomp, noNewPrivileges: true, rlimits, capabilities: capabilitiesFor(0) }
    const loose = { argv: ["/bin/true"], noNewPrivileges: false, capabilities: capabilitiesFor(0) }
    const once = (over: Record<string, unknown>) =>
      Effect.scoped(Effect.gen(function*() {
        const t = performance.now()
        yield* runToExit(lower, over)
        return performance.now() - t
      }))
    yield* once(confined)
    yield* once(loose)
    const withIt: Array<number> = []
    const without: Array<number> = []
    for (let i = 0; i < runs; i++) {
      withIt.push(yield* once(confined))
      without.push(yield* once(loose))
    }
    // The device policy is written once per pod, on its pod group; container groups inherit it.
    const cg = yield* Effect.provide(Cgroups, Cgroups.layer)
    const group = (i: number, policy: boolean) =>
      Effect.gen(function*() {
        const pod = `bench-iso-${process.pid}-${i}${policy ? "p" : "n"}`
        const t = performance.now()
        yield* cg.ensure({ pod }, policy ? { devices: DEFAULT_DEVICE_RULES } : {})
        yield* cg.ensure({ pod, container: "app" }, {})
        const ms = performance.now() - t
        yield* cg.remove({ pod }, { force: true })
        return ms
      })
    const pol: Array<number> = []
    const nopol: Array<number> = []
    for (let i = 0; i < Math.min(runs, 40); i++) {
      pol.push(yield* group(i, true))
      nopol.push(yield* group(i, false))
    }
    const [a, b, c, d] = [median(withIt), median(without), median(pol), median(nopol)]
    console.log(`monitor start-to-exit of /bin/true, median of ${runs}, interleaved:`)
    console.log(`  with the seccomp filter, no_new_privs, rlimits, cgroup ns: ${fmt(a)}`)
    console.log(`  without them: ${fmt(b)} → they cost ${fmt(a - b)} (${ratio(a, b)})`)
    console.log(
      `pod + container cgroups with the device policy: ${fmt(c)}, without: ${fmt(d)} → ${
        fmt(c - d)
      } per pod (${cg.driver})`
    )
    console.log(`compiling docker's profile (once per resolved profile, then cached): ${fmt(compileMs)}`)
    report([
      { bench: "isolation", case: "monitor start-to-exit, filter+nnp+rlimits", tank: a, peer: "without", peerValue: b },
      {
        bench: "isolation",
        case: `pod cgroups with device policy (${cg.driver})`,
        tank: c,
        peer: "without",
        peerValue: d
      }
    ])
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
