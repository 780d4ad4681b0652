/**
 * The Images service for CLI commands, built from the config the same way the agent builds it
 * (cache under <dataDir>/images, per-registry settings, docker config auths).
 */
import { Effect } from "effect"
import type { TankConfigShape } from "../config/Config.js"

const registriesOf = (c: TankConfigShape) =>
  Object.fromEntries(
    Object.entries(c.registries).map(([host, r]) => [host, {
      ...(r.username !== undefined ? { username: r.username } : {}),
      ...(r.password !== undefined ? { password: r.password } : {}),
      ...(r.insecure !== undefined ? { insecure: r.insecure } : {}),
      ...(r.ca !== undefined ? { caFile: r.ca } : {})
    }])
  )

export const imagesLayer = (config: TankConfigShape) =>
  Effect.map(Effect.promise(() => import("../image/Images.js")), (Images) => ({
    Images,
    layer: Images.layer({
      cacheDir: `${config.dataDir}/images`,
      registries: registriesOf(config),
      dockerConfig: config.dockerConfig
    })
  }))
