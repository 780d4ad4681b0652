// A plain process (no Tank code) that takes SQLite's write lock on a file and holds it:
// `node holdLock.mjs FILE MS [immediate|exclusive]`. Prints "locked" once it holds the lock and
// "released" after committing; exits then.
import Database from "better-sqlite3"

const [file, ms, mode = "immediate"] = process.argv.slice(2)
const db = new Database(file, { timeout: 30_000 })
db.exec(mode === "exclusive" ? "BEGIN EXCLUSIVE" : "BEGIN IMMEDIATE")
// A write inside the transaction: the lock is a writer's, as another Tank process's would be.
db.exec("CREATE TABLE IF NOT EXISTS lock_holder_probe (x INTEGER)")
db.exec("DROP TABLE lock_holder_probe")
process.stdout.write("locked\n")
setTimeout(() => {
  db.exec("COMMIT")
  db.close()
  process.stdout.write("released\n")
}, Number(ms))
