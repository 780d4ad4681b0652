/**
 * The per-pod /etc files bound into every container (pure): the image's own copies are never
 * used or modified.
 */
export const hostsFile = (pod: string, addresses: ReadonlyArray<string>): string =>
  [
    `127.0.0.1\tlocalhost`,
    `::1\tlocalhost ip6-localhost ip6-loopback`,
    ...addresses.map((a) => `${a.split("/")[0]}\t${pod}`),
    ...(addresses.length === 0 ? [`127.0.1.1\t${pod}`] : [])
  ].join("\n") + "\n"

export const hostnameFile = (pod: string): string => `${pod}\n`
