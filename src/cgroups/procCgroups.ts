/**
 * Parser for /proc/cgroups. Pure.
 *
 *   #subsys_name	hierarchy	num_cgroups	enabled
 *   memory	4	22	1
 *
 * hierarchy 0 means "not bound to a v1 hierarchy" (so on cgroup2, if mounted). Newer kernels
 * may list only v1-capable controllers, so detection treats this file as a cross-check
 * (`enabled`) and takes placement from mountinfo.
 */

export interface ProcCgroupEntry {
  readonly name: string
  readonly hierarchy: number
  readonly numCgroups: number
  readonly enabled: boolean
}

export const parseProcCgroups = (text: string): ReadonlyArray<ProcCgroupEntry> =>
  text.split("\n").flatMap((line) => {
    if (line.startsWith("#") || line.trim() === "") return []
    const [name, hierarchy, numCgroups, enabled] = line.trim().split(/\s+/)
    const h = Number(hierarchy)
    const n = Number(numCgroups)
    if (name === undefined || !Number.isInteger(h) || !Number.isInteger(n) || enabled === undefined) return []
    return [{ name, hierarchy: h, numCgroups: n, enabled: enabled === "1" }]
  })
