/** The web dashboard served by the agent (docs/web.md). */
export { layer, type WebDeps, type WebOptions } from "./server.js"
export * as StatusFeed from "./statusFeed.js"
