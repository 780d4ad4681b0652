/**
 * The environment of an exec'd process (pure): the container's resolved env (image Env + spec env,
 * from the pod record), `TERM=xterm` first when it has no TERM and a terminal is asked for (a
 * missing TERM breaks readline and line editing), then the caller's entries replacing same-key
 * entries in place (last writer wins; the key is the text before the first "=").
 */

export type EnvInput = Readonly<Record<string, string>> | ReadonlyArray<string>

const keyOf = (entry: string): string => {
  const i = entry.indexOf("=")
  return i < 0 ? entry : entry.slice(0, i)
}

const entries = (env: EnvInput | undefined): Array<string> =>
  env === undefined ? [] : Array.isArray(env)
    ? (env as ReadonlyArray<string>).filter((e) => e.indexOf("=") > 0)
    : Object.entries(env as Readonly<Record<string, string>>).map(([k, v]) => `${k}=${v}`)

export const execEnv = (
  base: ReadonlyArray<string>,
  options: { readonly tty: boolean; readonly env?: EnvInput | undefined }
): Array<string> => {
  const out = [...base]
  if (options.tty && !out.some((e) => keyOf(e) === "TERM")) out.unshift("TERM=xterm")
  for (const e of entries(options.env)) {
    const k = keyOf(e)
    const at = out.findIndex((x) => keyOf(x) === k)
    if (at >= 0) out[at] = e
    else out.push(e)
  }
  return out
}
