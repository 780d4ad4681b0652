/**
 * The peers Tank is measured against (Debian's crun, runc, podman, skopeo, umoci), with this
 * machine's quirks (reference/infra.md §3): podman needs a private config (cgroupfs manager, file
 * events, ulimits within root's hard limits, the local registry insecure); crun refuses the hybrid
 * cgroup layout unless the unified mount is hidden in a private mount namespace.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

export const PEERS = ["crun", "runc", "podman", "skopeo", "umoci"] as const

export const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0

/** Install the peers with apt when missing (the bench setup); returns the ones available. */
export const ensurePeers = (): ReadonlyArray<string> => {
  const missing = PEERS.filter((p) => !has(p))
  if (missing.length && process.getuid?.() === 0) {
    console.log(`installing peers (apt): ${missing.join(" ")}`)
    spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { stdio: "inherit" })
  }
  return PEERS.filter(has)
}

export const sh = (cmd: string, args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.stdout || r.error}`)
  return r.stdout
}

export const podmanEnv = (dir: string, registryHost: string): NodeJS.ProcessEnv => {
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, "storage.conf"),
    `[storage]\ndriver = "overlay"\nrunroot = "${dir}/run"\ngraphroot = "${dir}/graph"\n`
  )
  fs.writeFileSync(
    path.join(dir, "registries.conf"),
    `unqualified-search-registries = []\n[[registry]]\nlocation = "${registryHost}"\ninsecure = true\n`
  )
  fs.writeFileSync(
    path.join(dir, "containers.conf"),
    `[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n` +
      (has("runc") ? `runtime = "runc"\n` : "") +
      `[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n`
  )
  return {
    CONTAINERS_STORAGE_CONF: path.join(dir, "storage.conf"),
    CONTAINERS_REGISTRIES_CONF: path.join(dir, "registries.conf"),
    CONTAINERS_CONF: path.join(dir, "containers.conf")
  }
}

/** Unmount whatever podman's storage left mounted under `dir`, deepest first. */
export const unmountUnder = (dir: string) => {
  const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4] ?? "")
  for (const m of mounts.filter((m) => m.startsWith(dir)).sort().reverse()) spawnSync("umount", ["-l", m])
}

/** An OCI runtime bundle of `ref` (skopeo copy + umoci unpack) running `args`, with limits. */
export const makeBundle = (work: string, ref: string, args: ReadonlyArray<string>): string => {
  const layout = path.join(work, "oci")
  const bundle = path.join(work, "bundle")
  sh("skopeo", ["copy", "--src-tls-verify=false", `docker://${ref}`, `oci:${layout}:img`])
  sh("umoci", ["unpack", "--image", `${layout}:img`, bundle])
  const cfgPath = path.join(bundle, "config.json")
  const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"))
  cfg.process.args = args
  cfg.process.terminal = false
  cfg.process.rlimits = []
  cfg.linux.cgroupsPath = `/tank-bench-${process.pid}`
  cfg.linux.resources = {
    ...cfg.linux.resources,
    memory: { limit: 64 * 1024 * 1024 },
    pids: { limit: 64 },
    cpu: { quota: 100000, period: 100000 }
  }
  fs.writeFileSync(cfgPath, JSON.stringify(cfg))
  return bundle
}

/** The cgroups `runc`/`crun` made for `makeBundle`'s cgroupsPath (they leave them behind). */
export const removeBundleCgroups = () => {
  for (const c of ["memory", "pids", "cpu,cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd", "unified"]) {
    fs.rmSync(`/sys/fs/cgroup/${c}/tank-bench-${process.pid}`, { recursive: true, force: true })
  }
}

/** A `crun` command line for `sh`: crun refuses the hybrid cgroup layout, so the unified mount is
 * hidden in a private mount namespace. */
export const crunCmd = (args: string) =>
  `unshare -m --propagation private sh -c 'mount -t tmpfs -o size=4k,mode=000 tank-hide /sys/fs/cgroup/unified && exec crun ${args}'`

/** Times `runs` executions of a shell loop body inside one process (ns clock), in ms each. */
export const timeInShell = (setup: string, body: string, runs: number, env?: NodeJS.ProcessEnv): Array<number> => {
  const script =
    `${setup}\nfor i in $(seq ${runs}); do s=$(date +%s%N); ${body} >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); done`
  const out = execFileSync("sh", ["-c", script], { env: { ...process.env, ...env }, encoding: "utf8" })
  return out.trim().split("\n").map((us) => Number(us) / 1000)
}
