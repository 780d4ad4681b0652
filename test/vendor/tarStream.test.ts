/**
 * The tar-stream adapter: written for one version (a test fails when another is pinned or
 * installed), and what it relies on holds there (long names through PAX and GNU headers decode via
 * the hooked internal); an Extract without the internal is refused loudly.
 */
import { describe, expect, it } from "@effect/vitest"
import * as tar from "tar-stream"
import { PackageInternalMissing } from "../../src/vendor/internal.js"
import { onLongHeader, TAR_STREAM_VERSION } from "../../src/vendor/tarStream.js"
import { file, tarOf } from "../support/tarFixtures.js"
import { versionsOf } from "./versions.js"

// A last component over 100 bytes: no ustar name/prefix split holds it, so a long header is needed.
const LONG = `${"d".repeat(20)}/${"n".repeat(120)}.txt`

/** One 512-byte GNU-format header (magic "ustar  "), checksum filled in. */
const gnuHeader = (name: string, type: string, size: number): Buffer => {
  const b = Buffer.alloc(512)
  b.write(name, 0, 100, "latin1")
  b.write("0000644\0", 100)
  b.write("0000000\0", 108)
  b.write("0000000\0", 116)
  b.write(size.toString(8).padStart(11, "0") + "\0", 124)
  b.write("00000000000\0", 136)
  b.write(type, 156)
  b.write("ustar  \0", 257)
  b.fill(" ", 148, 156)
  let sum = 0
  for (const x of b) sum += x
  b.write(sum.toString(8).padStart(6, "0") + "\0 ", 148)
  return b
}
const padded = (data: Buffer) => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)])

/** A GNU tar: a `././@LongLink` 'L' header carrying LONG, then a file "short" with "hi". */
const gnuLongNameTar = (): Buffer => {
  const name = Buffer.from(LONG + "\0", "latin1")
  return Buffer.concat([
    gnuHeader("././@LongLink", "L", name.length),
    padded(name),
    gnuHeader("short", "0", 2),
    padded(Buffer.from("hi")),
    Buffer.alloc(1024)
  ])
}

/** Entry names of `archive`, with the types of the long headers the adapter saw. */
const read = (archive: Buffer): Promise<{ names: Array<string>; seen: Array<string> }> =>
  new Promise((resolve, reject) => {
    const ex = tar.extract()
    const names: Array<string> = []
    const seen: Array<string> = []
    onLongHeader(ex, (buf, header) => {
      seen.push(header.type)
      header.decodeAsUsual(buf)
    })
    ex.on("entry", (h, stream, next) => {
      names.push(h.name)
      stream.on("end", next)
      stream.resume()
    })
    ex.on("finish", () => resolve({ names, seen }))
    ex.on("error", reject)
    ex.end(archive)
  })

describe("tar-stream adapter", () => {
  it("was written for the tar-stream version package.json pins and node_modules holds", () => {
    expect(versionsOf("tar-stream")).toEqual({ installed: TAR_STREAM_VERSION, pinned: TAR_STREAM_VERSION })
  })

  it("a PAX long name (> 100 bytes) decodes through the hooked internal", async () => {
    const { names, seen } = await read(await tarOf([file(LONG, "x")]))
    expect(seen).toEqual(["pax-header"])
    expect(names).toEqual([LONG])
  })

  it("a GNU long name decodes through the hooked internal", async () => {
    const { names, seen } = await read(gnuLongNameTar())
    expect(seen).toEqual(["gnu-long-path"])
    expect(names).toEqual([LONG])
  })

  it("setPax sets the next entry's attributes", async () => {
    const ex = tar.extract()
    onLongHeader(ex, (_buf, header) => header.setPax({ path: "renamed" }))
    const names: Array<string> = []
    ex.on("entry", (h, stream, next) => {
      names.push(h.name)
      stream.on("end", next)
      stream.resume()
    })
    const done = new Promise<void>((resolve) => ex.on("finish", () => resolve()))
    ex.end(await tarOf([file(LONG, "x")]))
    await done
    expect(names).toEqual(["renamed"])
  })

  it("an Extract without the internal is refused, naming package, pinned version and internal", () => {
    const ex = tar.extract()
    Object.defineProperty(ex, "_decodeLongHeader", { value: undefined })
    const thrown = (() => {
      try {
        onLongHeader(ex, () => undefined)
      } catch (e) {
        return e
      }
    })()
    expect(thrown).toBeInstanceOf(PackageInternalMissing)
    expect((thrown as Error).message).toContain(`tar-stream: internal Extract#_decodeLongHeader is not a function`)
    expect((thrown as Error).message).toContain(`tar-stream ${TAR_STREAM_VERSION}`)
  })
})
