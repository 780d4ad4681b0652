/** Spelling out a Schema issue's path, for specs and the config alike. Pure. */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/**
 * `["containers", 0, "mounts", 1, "volume"]` → `containers[0].mounts[1].volume`. Keys that are not
 * identifiers (env names like `A=B` or `""`, registry hosts) are quoted: `env["A=B"]`.
 */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, k) =>
      typeof k === "number"
        ? `${acc}[${k}]`
        : typeof k === "string" && !IDENTIFIER.test(k)
        ? `${acc}[${JSON.stringify(k)}]`
        : acc === ""
        ? String(k)
        : `${acc}.${String(k)}`,
    ""
  )
