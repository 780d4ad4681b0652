/** exec and attach: interactive and captured sessions in running pods, from any process. */
export * from "./Attach.js"
export type { ExecUser } from "./command.js"
export * from "./detachKeys.js"
export * from "./env.js"
export * from "./errors.js"
export * from "./Exec.js"
export { findTarget, type Target } from "./target.js"
export * from "./terminal.js"
