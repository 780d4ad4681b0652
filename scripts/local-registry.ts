/**
 * A local OCI registry for trying Tank without the internet: Debian's docker-registry on
 * 127.0.0.1:5000 (or $REGISTRY_PORT) with Tank's example images built from busybox-static:
 *   127.0.0.1:5000/tank/busybox, tank/busybox-user, tank/busybox-httpd, ...
 * Runs in the foreground until Ctrl-C; storage in $REGISTRY_DIR (default /tmp/tank-local-registry).
 *
 *   npx tsx scripts/local-registry.ts
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { pushFixtures } from "../test/support/fixtureImages.js"

const port = Number(process.env.REGISTRY_PORT ?? 5000)
const dir = process.env.REGISTRY_DIR ?? "/tmp/tank-local-registry"
fs.mkdirSync(path.join(dir, "data"), { recursive: true })
const config = path.join(dir, "config.yml")
fs.writeFileSync(
  config,
  [
    "version: 0.1",
    "log: {level: error, accesslog: {disabled: true}}",
    `storage: {filesystem: {rootdirectory: ${path.join(dir, "data")}}, delete: {enabled: true}}`,
    `http: {addr: "127.0.0.1:${port}", secret: tank-local}`,
    ""
  ].join("\n")
)
const registry = spawn("docker-registry", ["serve", config], { stdio: "inherit" })
registry.on("exit", (code) => process.exit(code ?? 1))
const stop = () => registry.kill("SIGTERM")
process.on("SIGINT", stop)
process.on("SIGTERM", stop)

const ready = async () => {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`docker-registry did not answer on 127.0.0.1:${port}`)
}

await ready()
const refs = await pushFixtures(`127.0.0.1:${port}`)
console.log(`registry on 127.0.0.1:${port} (Ctrl-C to stop); images:`)
for (const ref of Object.values(refs)) console.log(`  ${ref}`)
