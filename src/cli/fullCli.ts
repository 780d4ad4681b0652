/**
 * How the quick bundle (quickPs.ts) hands a line they do not run to the full CLI: its
 * bundle, dist/tank.cjs beside it, evaluated in this process through the same code-cache loader
 * as dist/tank.mjs (dist/load.cjs, scripts/build.mjs); it reads process.argv as if started itself.
 * Called before the quick bundle's own command runs, so the process has one command and one exit.
 */
import { createRequire } from "node:module"
import * as path from "node:path"

export const runFullCli = (): void => {
  // Resolved at run time beside the bundle (never bundled: the small bundle is the point).
  const load = createRequire(__filename)(path.join(__dirname, "load.cjs")) as (name: string) => void
  load("tank.cjs")
}
