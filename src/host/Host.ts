/**
 * Host facts the runtime needs: the uplink interface for `parent: "auto"` NICs and the DNS servers
 * pods inherit. `Host.Static` takes them from config; users compose their own layer (say, one that
 * asks NetworkManager, or picks the interface holding the default route).
 */
import { Context, Effect, Layer } from "effect"
import { TankConfig } from "../config/Config.js"
import { NoUplink } from "../net/errors.js"

// One error for "no uplink" wherever it is found (the network names the NIC): one tag to catch.
export { NoUplink }

export interface HostService {
  /** The interface macvlan NICs with `parent: "auto"` attach to. */
  readonly uplink: Effect.Effect<string, NoUplink>
  /** DNS servers for pods whose network names none. */
  readonly dns: Effect.Effect<ReadonlyArray<string>>
}

export interface StaticFacts {
  readonly uplink?: string | undefined
  readonly dns?: ReadonlyArray<string> | undefined
}

const fromFacts = (facts: StaticFacts): HostService => ({
  uplink: facts.uplink && facts.uplink.trim() !== ""
    ? Effect.succeed(facts.uplink)
    : Effect.fail(new NoUplink({ reason: "no uplink configured (set host.uplink in the config or TANK_UPLINK)" })),
  dns: Effect.succeed(facts.dns ?? [])
})

export class Host extends Context.Tag("tank/Host")<Host, HostService>() {
  /** Fixed facts, e.g. `Host.Static({ uplink: "eth0", dns: ["10.0.0.1"] })`. */
  static Static = (facts: StaticFacts): Layer.Layer<Host> => Layer.succeed(Host, fromFacts(facts))
  /** `Host.Static` with the facts from Tank's config (`host.uplink`, `host.dns`, TANK_UPLINK, TANK_DNS). */
  static FromConfig: Layer.Layer<Host, never, TankConfig> = Layer.effect(
    Host,
    Effect.map(TankConfig, (c) => fromFacts(c.host))
  )
}
