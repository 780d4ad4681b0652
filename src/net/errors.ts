/**
 * Typed failures of pod networking. Each names the NIC (when there is one) and the step, so a status line
 * can say "eth1: parent enp3s0 not found" rather than "ENODEV".
 */
import { Schema } from "effect"

/** The NIC's parent link does not exist in the parent namespace. */
export class ParentNotFound extends Schema.TaggedError<ParentNotFound>()("ParentNotFound", {
  nic: Schema.String,
  parent: Schema.String
}) {
  override get message() {
    return `${this.nic}: parent link "${this.parent}" not found`
  }
}

/** `parent: "auto"` and the Host service has no uplink configured. */
export class NoUplink extends Schema.TaggedError<NoUplink>()("NoUplink", {
  nic: Schema.optional(Schema.String),
  reason: Schema.String
}) {
  override get message() {
    return `${this.nic === undefined ? "" : `${this.nic}: `}no uplink for parent "auto": ${this.reason}`
  }
}

/** The address is already present in the pod's namespace, or given to two NICs of the pod. */
export class AddressInUse extends Schema.TaggedError<AddressInUse>()("AddressInUse", {
  nic: Schema.String,
  address: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.nic}: address ${this.address} is in use (${this.detail})`
  }
}

/** A step of a NIC's bring-up failed in the kernel. `step` is one of the NicStep values. */
export class LinkCreateFailed extends Schema.TaggedError<LinkCreateFailed>()("LinkCreateFailed", {
  nic: Schema.String,
  step: Schema.String,
  errno: Schema.Number,
  message: Schema.String
}) {}

/** A namespace or netlink operation outside a NIC's bring-up (opening the netns, lo, dumps, deletes). */
export class NetlinkError extends Schema.TaggedError<NetlinkError>()("NetlinkError", {
  op: Schema.String,
  errno: Schema.Number,
  message: Schema.String
}) {}

export type NetworkError = ParentNotFound | NoUplink | AddressInUse | LinkCreateFailed | NetlinkError

/** The bring-up steps of one NIC, in order; used as `LinkCreateFailed.step`. */
export type NicStep = "parent" | "bridge" | "create" | "lookup" | "up" | "probe" | "address" | "route"
