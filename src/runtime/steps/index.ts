/**
 * A pod's bring-up, in order. Each step is `{ name, acquire, release }` (Step.ts), run by the
 * runner (runner.ts), which journals every step in the run record so an agent killed between any
 * two of them leaves a record a new agent can finish or undo exactly.
 */
import { userns } from "./01-userns.js"
import { volumes } from "./02-volumes.js"
import { images } from "./03-images.js"
import { sandbox } from "./04-sandbox.js"
import { network } from "./05-network.js"
import { cgroups } from "./06-cgroups.js"
import { files } from "./07-files.js"
import { init } from "./08-init.js"
import { monitors } from "./09-monitors.js"
import { proceed } from "./10-proceed.js"
import type { AnyStep } from "./Step.js"

export const bringUp: ReadonlyArray<AnyStep> = [
  userns,
  volumes,
  images,
  sandbox,
  network,
  cgroups,
  files,
  init,
  monitors,
  proceed
]
