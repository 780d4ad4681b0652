/**
 * @effect/cli's help, without its filler: the type sentence it puts before every option's own
 * description ("A user-defined piece of text.", "A true or false value.", "One of the following:
 * ..."), "This setting is optional.", and the built-in `--completions` (Tank has `tank completion`)
 * and `--wizard` options in the root's list, and its banner (the name alone, above "tank 0.1.0").
 * A subcommand's usage line gets its whole path (`$ url` becomes `$ tank web url`).
 * Pure text in, text out; the help's own words stay.
 */

const FILLER = [
  /^ {2}A user-defined piece of text\.$/,
  /^ {2}A true or false value\.$/,
  /^ {2}An integer\.$/,
  /^ {2}A floating point number\.$/,
  /^ {2}One of the following: .*$/,
  /^ {2}This setting is optional\.$/,
  /^ {2}This option has a default value.*$/,
  /^ {2}This option may be repeated.*$/
]

/** Built-in options listed in the help that Tank does not want shown (they still parse). */
const HIDDEN_OPTION = /^(--completions|--wizard)\b/

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * Lines are matched without their colours (help on a terminal is coloured) and kept as they were.
 * `path` is the command the help is about ("web url"; "" or absent for the root).
 */
export const cleanHelp = (text: string, path?: string): string => {
  const lines = text.split("\n")
  const plain = (l: string | undefined) => l?.replace(ANSI, "")
  const kept: Array<string> = []
  let hiding = false
  const last = path?.split(" ").pop()
  // @effect/cli writes the usage line uncoloured, naming only the last word of the path.
  const usage = last ? new RegExp(`^\\$ ${escape(last)}(?=\\s|$)`) : undefined
  // The banner: the program's name alone, then a blank line, then "tank 0.1.0".
  const start = /^\S+$/.test(plain(lines[0]) ?? "") && plain(lines[1]) === "" &&
      plain(lines[2])?.startsWith(`${plain(lines[0])} `)
    ? 2
    : 0
  for (let i = start; i < lines.length; i++) {
    const line = plain(lines[i])!
    // An option's block runs from its unindented header to the next unindented line.
    if (line !== "" && !line.startsWith(" ")) hiding = HIDDEN_OPTION.test(line)
    if (hiding) continue
    if (FILLER.some((re) => re.test(line))) {
      if (plain(lines[i + 1]) === "") i++
      continue
    }
    // The usage line shows the wizard/completions flags too.
    const kept_ = lines[i]!.replace(/ \[--completions [^\]]*\]| \[--wizard\]/g, "")
    kept.push(usage ? kept_.replace(usage, () => `$ tank ${path}`) : kept_)
  }
  return kept.join("\n")
}
