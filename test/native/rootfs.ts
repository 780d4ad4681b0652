/**
 * A minimal rootfs for tests, from Debian's busybox-static: /bin/busybox plus one relative symlink
 * per applet (what `busybox --install -s` does, minus its absolute host paths), /etc/passwd and
 * /etc/group with root and `tank` (1000:1000), /tmp 1777, /root 0700, /home/tank owned by 1000.
 * Reusable by anyone: `yield* busyboxRootfs` (scoped temp dir) or `buildBusyboxRootfs(dir)`.
 */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { tmpDir } from "../support/tmp.js"

export const BUSYBOX = "/bin/busybox"

export const PASSWD =
  "root:x:0:0:root:/root:/bin/sh\ntank:x:1000:1000:tank:/home/tank:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
export const GROUP = "root:x:0:\ntank:x:1000:\nwheel:x:10:tank\nnogroup:x:65534:\n"

export const buildBusyboxRootfs = (dir: string): void => {
  const bin = path.join(dir, "bin")
  fs.mkdirSync(bin, { recursive: true })
  fs.copyFileSync(BUSYBOX, path.join(bin, "busybox"))
  fs.chmodSync(path.join(bin, "busybox"), 0o755)
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" }).split("\n").filter((a) =>
    a && a !== "busybox"
  )
  for (const a of applets) fs.symlinkSync("busybox", path.join(bin, a))
  for (const d of ["etc", "proc", "sys", "dev", "root", "home/tank", "var/empty"]) {
    fs.mkdirSync(path.join(dir, d), { recursive: true })
  }
  fs.mkdirSync(path.join(dir, "tmp"), { mode: 0o1777 })
  fs.chmodSync(path.join(dir, "tmp"), 0o1777)
  fs.chmodSync(path.join(dir, "root"), 0o700)
  fs.chownSync(path.join(dir, "home/tank"), 1000, 1000)
  fs.writeFileSync(path.join(dir, "etc/passwd"), PASSWD)
  fs.writeFileSync(path.join(dir, "etc/group"), GROUP)
  fs.writeFileSync(path.join(dir, "etc/hostname"), "image-build-host\n")
}

/** A fresh busybox rootfs in a temp dir, removed with the scope. */
export const busyboxRootfs = Effect.gen(function*() {
  const dir = yield* tmpDir("tank-rootfs-")
  yield* Effect.sync(() => buildBusyboxRootfs(dir))
  return dir
})

/** A stable fingerprint of a tree (paths, modes, sizes, link targets, file hashes of small files). */
export const treeFingerprint = (dir: string): string => {
  const out: Array<string> = []
  const walk = (rel: string) => {
    const full = path.join(dir, rel)
    const st = fs.lstatSync(full)
    let extra = ""
    if (st.isSymbolicLink()) extra = fs.readlinkSync(full)
    else if (st.isFile()) extra = String(st.size) + ":" + st.mtimeMs
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${extra}`)
    if (st.isDirectory()) { for (const e of fs.readdirSync(full).sort()) walk(path.join(rel, e)) }
  }
  walk(".")
  return out.join("\n")
}
