/**
 * `tank top`'s /proc parsing (src/observe/top.ts): a process name may hold spaces and ')'.
 */
import { assert, describe, it } from "@effect/vitest"
import { commandOf, parseStat, parseStatusIds } from "../../src/observe/top.js"

describe("top parsing", () => {
  it("stat: fields counted from after the last ')' of the name", () => {
    const stat =
      "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 9999 1000000 321 18446744073709551615"
    assert.deepStrictEqual(parseStat(stat), { ppid: 17, ticks: 300, rssPages: 321 })
  })
  it("status: real uid and gid; cmdline: argv, else the name in brackets", () => {
    assert.deepStrictEqual(parseStatusIds("Name:\tsh\nUid:\t100000\t100000\t100000\t100000\nGid:\t100001\t1\t1\t1\n"), {
      uid: 100000,
      gid: 100001
    })
    assert.strictEqual(commandOf("sh\0-c\0sleep 1\0", "1 (sh) S"), "sh -c sleep 1")
    assert.strictEqual(commandOf("", "1 (kworker) S"), "[kworker]")
  })
})
