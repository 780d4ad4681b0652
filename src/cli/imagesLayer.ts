/**
 * The Images service for CLI commands, built from the config the same way the agent builds it
 * (cache under <dataDir>/images, per-registry settings, docker config auths).
 */
import { Effect } from "effect"
import type { TankConfigShape } from "../config/Config.js"
import { imagesOptions } from "../image/fromConfig.js"

export const imagesLayer = (config: TankConfigShape) =>
  Effect.map(Effect.promise(() => import("../image/Images.js")), (Images) => ({
    Images,
    layer: Images.layer(imagesOptions(config))
  }))
