/**
 * Device rules, pure: the v1 line format both ways, validation, runc's default list, reading
 * `devices.list`, and the v1 writes that take a group from its current state to a policy.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type { DeviceRule } from "../../src/cgroups/devices.js"
import {
  DEFAULT_DEVICE_RULES,
  formatDeviceRule,
  parseDeviceRule,
  parseDevicesList,
  v1DeviceWrites,
  validateDeviceRules
} from "../../src/cgroups/devices.js"

const list = (text: string) => Either.getOrThrow(parseDevicesList(text))
const writes = (current: string, rules: ReadonlyArray<DeviceRule>) =>
  v1DeviceWrites(list(current), rules).map((w) => `${w.file} ${w.value}`)
const LOOP: DeviceRule = { type: "b", major: 7, minor: 0, access: "rwm" }

describe("device rules", () => {
  it("runc's default list, as v1 lines", () => {
    expect(DEFAULT_DEVICE_RULES.map(formatDeviceRule)).toEqual([
      "c *:* m",
      "b *:* m",
      "c 1:3 rwm",
      "c 1:5 rwm",
      "c 1:7 rwm",
      "c 1:8 rwm",
      "c 1:9 rwm",
      "c 5:0 rwm",
      "c 5:1 rwm",
      "c 5:2 rwm",
      "c 136:* rwm"
    ])
  })

  it("format and parse are inverse; access is normalised to rwm order", () => {
    for (const r of DEFAULT_DEVICE_RULES) expect(Either.getOrThrow(parseDeviceRule(formatDeviceRule(r)))).toEqual(r)
    expect(formatDeviceRule({ type: "c", major: 10, access: "mr" })).toBe("c 10:* rm")
    expect(Either.getOrThrow(parseDeviceRule("b 7:0 rw"))).toEqual({ type: "b", major: 7, minor: 0, access: "rw" })
    expect(Either.getOrThrow(parseDeviceRule("a *:* rwm"))).toEqual({ type: "a", access: "rwm" })
  })

  it("malformed lines and out-of-range numbers are refused with the line named", () => {
    for (
      const bad of [
        "x 1:3 rwm",
        "c 1:3",
        "c 1:3 rwx",
        "c 1:3 rr",
        "c 1 rwm",
        "c 4096:0 r",
        "c 1:1048576 r",
        "a 1:3 rwm",
        "a *:* r",
        "c -1:3 r"
      ]
    ) {
      const r = parseDeviceRule(bad)
      expect(Either.isLeft(r), bad).toBe(true)
      expect(Either.isLeft(r) && r.left).toContain(JSON.stringify(bad))
    }
  })

  it("validateDeviceRules names the bad rule by index", () => {
    expect(Either.getOrThrow(validateDeviceRules(DEFAULT_DEVICE_RULES))).toEqual(DEFAULT_DEVICE_RULES)
    const bad = validateDeviceRules([LOOP, { type: "c", major: 1, minor: 3, access: "" }])
    expect(Either.isLeft(bad) && bad.left).toMatch(/^devices\[1\]\.access: .*subset of "rwm"/)
    expect(Either.isLeft(validateDeviceRules([{ type: "c", major: 1.5, access: "r" }]))).toBe(true)
    expect(Either.isLeft(validateDeviceRules([{ type: "a", major: 1, access: "rwm" }]))).toBe(true)
  })

  it("devices.list: allow-all, empty deny-all, exceptions merged per device", () => {
    expect(list("a *:* rwm\n")).toEqual({ allowAll: true })
    expect(list("")).toEqual({ allowAll: false, allowed: new Map() })
    expect(list("c 1:3 rw\nc 1:3 m\nb *:* m\n")).toEqual({
      allowAll: false,
      allowed: new Map([["c 1:3", "rwm"], ["b *:*", "m"]])
    })
    expect(Either.isLeft(parseDevicesList("garbage"))).toBe(true)
  })
})

describe("v1 writes", () => {
  it("from allow-all: deny everything first, then each rule", () => {
    expect(writes("a *:* rwm", [...DEFAULT_DEVICE_RULES.slice(0, 3), LOOP])).toEqual([
      "devices.deny a",
      "devices.allow c *:* m",
      "devices.allow b *:* m",
      "devices.allow c 1:3 rwm",
      "devices.allow b 7:0 rwm"
    ])
  })

  it("from deny-by-default: only the difference, removals first; nothing when already there", () => {
    const current = "c *:* m\nc 1:3 rwm\nb 7:0 rwm\nc 5:0 rw"
    const target: ReadonlyArray<DeviceRule> = [
      { type: "c", access: "m" },
      { type: "c", major: 1, minor: 3, access: "rwm" },
      { type: "c", major: 5, minor: 0, access: "rwm" },
      { type: "c", major: 1, minor: 5, access: "rwm" }
    ]
    expect(writes(current, target)).toEqual([
      "devices.deny b 7:0 rwm",
      "devices.allow c 5:0 rwm",
      "devices.allow c 1:5 rwm"
    ])
    expect(writes("c 1:3 rwm\nc 1:5 rw", [{ type: "c", major: 1, minor: 5, access: "r" }])).toEqual([
      "devices.deny c 1:3 rwm",
      "devices.deny c 1:5 w"
    ])
    expect(writes(current, [...target.slice(0, 2), { type: "c", major: 5, minor: 0, access: "rw" }, LOOP]))
      .toEqual([])
  })

  it("a *:* rwm lifts the policy; an empty list denies every device", () => {
    expect(writes("c 1:3 rwm", [{ type: "a", access: "rwm" }])).toEqual(["devices.allow a"])
    expect(writes("a *:* rwm", [{ type: "a", access: "rwm" }])).toEqual([])
    expect(writes("a *:* rwm", [])).toEqual(["devices.deny a"])
    expect(writes("c 1:3 rwm", [])).toEqual(["devices.deny c 1:3 rwm"])
  })
})
