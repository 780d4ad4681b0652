/**
 * Parser for /proc/<pid>/mountinfo (proc(5)). Pure.
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
 *
 * Paths escape space, tab, newline and backslash as octal (`\040`); they are unescaped here.
 */

export interface MountEntry {
  readonly id: number
  readonly parentId: number
  /** The path inside the filesystem that is mounted (not "/" for a bind or a cgroup-ns view). */
  readonly root: string
  readonly mountPoint: string
  readonly mountOptions: ReadonlyArray<string>
  readonly fsType: string
  readonly source: string
  readonly superOptions: ReadonlyArray<string>
}

const unescape = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))

/** Parses one line; undefined for a malformed line (skipped rather than failing detection). */
export const parseMountinfoLine = (line: string): MountEntry | undefined => {
  const fields = line.trim().split(" ")
  const sep = fields.indexOf("-", 6)
  if (fields.length < 10 || sep < 0 || fields.length < sep + 4) return undefined
  const id = Number(fields[0])
  const parentId = Number(fields[1])
  if (!Number.isInteger(id) || !Number.isInteger(parentId)) return undefined
  return {
    id,
    parentId,
    root: unescape(fields[3]!),
    mountPoint: unescape(fields[4]!),
    mountOptions: fields[5]!.split(","),
    fsType: fields[sep + 1]!,
    source: unescape(fields[sep + 2]!),
    superOptions: fields[sep + 3]!.split(",")
  }
}

export const parseMountinfo = (text: string): ReadonlyArray<MountEntry> =>
  text.split("\n").flatMap((line) => {
    const entry = line.trim() === "" ? undefined : parseMountinfoLine(line)
    return entry === undefined ? [] : [entry]
  })
