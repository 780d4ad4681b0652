/**
 * The Images service for CLI commands, built from the config the same way the agent builds it
 * (cache under <dataDir>/images, per-registry settings, docker config auths).
 */
import { Effect } from "effect"
import type { TankConfigShape } from "../config/Config.js"
import { imagesOptions } from "../image/fromConfig.js"

export const imagesLayer = (config: TankConfigShape) =>
  Effect.gen(function*() {
    const [Images, { DATA_DIR_MARKERS, ensurePrivateDir }] = yield* Effect.promise(() =>
      Promise.all([import("../image/Images.js"), import("../config/privateDir.js")])
    )
    // `tank pull` may be the first command ever run: the data dir is private from the start.
    yield* ensurePrivateDir(config.dataDir, DATA_DIR_MARKERS)
    return { Images, layer: Images.layer(imagesOptions(config)) }
  })
