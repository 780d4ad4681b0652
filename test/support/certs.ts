/**
 * Test certificates with openssl: a self-signed CA, and certificates it signs (server or client),
 * valid for two days. Files go where the caller says (its temp dir, removed with it).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

/** A self-signed certificate (a CA, or a lone server certificate). */
export const selfSigned = (cn: string, keyPath: string, certPath: string) =>
  run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=${cn}`,
    "-keyout",
    keyPath,
    "-out",
    certPath
  ])

/**
 * `<dir>/<name>.key` and `<dir>/<name>.crt` for CN `cn`, signed by `<dir>/ca.key`/`ca.crt`, with the
 * x509 extensions in `ext` (e.g. "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n").
 */
export const signedBy = async (dir: string, name: string, cn: string, ext: string) => {
  const f = (n: string) => path.join(dir, n)
  await run("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    `/CN=${cn}`,
    "-keyout",
    f(`${name}.key`),
    "-out",
    f(`${name}.csr`)
  ])
  fs.writeFileSync(f(`${name}.cnf`), ext)
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    f(`${name}.csr`),
    "-CA",
    f("ca.crt"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    f(`${name}.cnf`),
    "-out",
    f(`${name}.crt`)
  ])
  return { key: f(`${name}.key`), cert: f(`${name}.crt`) }
}

/** A CA in `<dir>/ca.key` + `<dir>/ca.crt`. */
export const makeCa = (dir: string, cn: string) => selfSigned(cn, path.join(dir, "ca.key"), path.join(dir, "ca.crt"))
