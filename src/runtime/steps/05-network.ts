/**
 * Step 5, network: the pod's NICs in its sandbox netns (addresses from pools, bridges, ports: the
 * agent's PodNetworks). Undo: in this process, the setup's own scope takes its links down; from the
 * record, the links that live in a host namespace (a bridge NIC's veth end) are deleted — the pod's
 * own links go with its netns. Allocations belong to the pod (released by `purge`).
 *
 * `network: "none"` (the default) needs nothing here: the sandbox helper brings `lo` up in every
 * net namespace it makes (PROTOCOL.md §2), which was all the network setup did for it — through a
 * setns into the namespace and two netlink round trips on the agent's thread, ~0.3-0.7 ms of every
 * such start (issue 21). Its result is what that setup returned: no addresses, no DNS, no links.
 */
import { Effect } from "effect"
import { step } from "../monitors.js"
import { releaseFailed, type Step } from "./Step.js"

export const network: Step<"network"> = {
  name: "network",
  acquire: (run) =>
    Effect.gen(function*() {
      const { deps, pod } = run
      const netns = run.results().sandbox?.net
      if (pod.network === "host" || netns === undefined) return undefined
      if (pod.network === "none") {
        run.live.addresses = []
        run.live.dns = []
        return { addresses: [], dns: [], hostLinks: [] }
      }
      const net = yield* deps.podNetworks.setup({
        pod,
        netnsPath: netns,
        uplink: () => deps.host.uplink,
        ...(deps.parentNetns ? { parentNetns: deps.parentNetns } : {}),
        ...(deps.macSeed ? { macSeed: deps.macSeed } : {})
      }).pipe(Effect.mapError(step(pod.name, "network")))
      const addresses = net.state.nics.map((n) => n.address)
      run.live.addresses = addresses
      run.live.dns = net.dns
      return {
        addresses,
        dns: [...net.dns],
        hostLinks: net.state.nics.flatMap((n) =>
          n.hostLink !== undefined
            ? [{ name: n.hostLink, ...(net.state.hostNetns !== undefined ? { netns: net.state.hostNetns } : {}) }]
            : []
        )
      }
    }),
  release: (undo, _done, result) =>
    Effect.forEach(
      result?.hostLinks ?? [],
      (l) => undo.deps.network.deleteLink(l.name, l.netns).pipe(Effect.mapError(releaseFailed("network"))),
      { discard: true }
    )
}
