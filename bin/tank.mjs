#!/usr/bin/env node
// The `tank` bin: the bundled CLI (built by `npm run build`, which `npm test` also runs).
try {
  await import("../dist/tank.mjs")
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND" || !String(e.message).includes("dist/tank.mjs")) throw e
  process.stderr.write("tank: the CLI is not built yet: run `npm run build` in the tank checkout\n")
  process.exit(1)
}
