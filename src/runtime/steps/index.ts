/**
 * A pod's bring-up, in stages. Each step is `{ name, acquire, release }` (Step.ts), run by the
 * runner (runner.ts), which journals every step in the run record so an agent killed between any
 * two of them leaves a record a new agent can finish or undo exactly.
 *
 * The steps of one stage need nothing of each other and run side by side (a stage takes as long
 * as its slowest step, not their sum): the images are read and the cgroups made while the
 * sandbox helper runs. Side by side on one thread, a stage's steps begin in their order, each
 * running until it first waits: a step that waits on another process (the sandbox: a request to
 * the spawner) goes first, so its request is out before the others' synchronous work (images
 * ~0.8 ms, cgroups ~1.2 ms on this VM) holds the thread; placed after images it waited for them
 * (issue 21). What each step reads of the others:
 * volumes, images and sandbox the userns range; images the volumes; network the sandbox; files
 * the network's addresses and DNS; init and monitors everything before them.
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

export const stages: ReadonlyArray<ReadonlyArray<AnyStep>> = [
  [userns],
  [volumes],
  [sandbox, images, cgroups],
  [network],
  [files],
  [init],
  [monitors],
  [proceed]
]

/** Every step, in the order the stages begin them (an undo without a record goes back through it). */
export const bringUp: ReadonlyArray<AnyStep> = stages.flat()
