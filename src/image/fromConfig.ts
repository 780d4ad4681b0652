/**
 * The Images service's options from Tank's config (cache under <dataDir>/images, per-registry
 * settings, docker config auths): one place for the agent and the CLI. Light on purpose: the CLI
 * imports it without loading the registry client.
 */
import * as path from "node:path"
import type { TankConfigShape } from "../config/Config.js"
import type { ImagesOptions } from "./Images.js"

export const imagesOptions = (c: TankConfigShape): ImagesOptions => ({
  cacheDir: path.join(c.dataDir, "images"),
  registries: Object.fromEntries(
    Object.entries(c.registries).map(([host, r]) => [host, {
      ...(r.username !== undefined ? { username: r.username } : {}),
      ...(r.password !== undefined ? { password: r.password } : {}),
      ...(r.insecure !== undefined ? { insecure: r.insecure } : {}),
      ...(r.ca !== undefined ? { caFile: r.ca } : {})
    }])
  ),
  dockerConfig: c.dockerConfig
})
