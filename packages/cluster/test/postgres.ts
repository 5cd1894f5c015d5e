/**
 * A PostgreSQL server of the test's own, on loopback: Debian's `postgresql`
 * package (installed with apt-get when missing, which needs root), a fresh
 * data directory, a free port and a password, so that a test can stop and
 * start it without touching any other server on the machine.
 */
import { execFileSync } from "node:child_process"
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface Postgres {
  readonly url: string
  readonly port: number
  /** Stops the server (fast shutdown: connections are cut). */
  stop(): void
  /** Starts it again on the same port and data. */
  start(): void
  /** Stops it for good and removes its data. */
  remove(): void
}

const password = "arbor-cluster-test"

const root = process.getuid?.() === 0

/** The directory of the newest installed PostgreSQL's server programs, installing Debian's package if there is none. */
const binaries = (): string => {
  const installed = () =>
    existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql").filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)) : []
  if (installed().length === 0) {
    if (!root || !existsSync("/usr/bin/apt-get")) {
      throw new Error("PostgreSQL's server is not installed: install Debian's package `postgresql` (apt-get install -y postgresql) and run the tests again")
    }
    execFileSync("apt-get", ["update"], { stdio: "ignore" })
    execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "postgresql"], {
      stdio: "ignore",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
    })
  }
  const version = installed().sort((a, b) => Number(b) - Number(a))[0]!
  return `/usr/lib/postgresql/${version}/bin`
}

/** Runs a server program as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root). */
const asPostgres = (program: string, args: ReadonlyArray<string>): void => {
  const [command, all] = root ? ["runuser", ["-u", "postgres", "--", program, ...args]] : [program, args]
  execFileSync(command, all, { stdio: "pipe", cwd: "/" })
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

export const startPostgres = async (): Promise<Postgres> => {
  const bin = binaries()
  const dir = mkdtempSync(join(tmpdir(), "arbor-pg-"))
  const data = join(dir, "data")
  writeFileSync(join(dir, "password"), password)
  if (root) {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }))
    const [uid, gid] = [id("-u"), id("-g")]
    chownSync(dir, uid, gid)
    chownSync(join(dir, "password"), uid, gid)
    chmodSync(dir, 0o700)
  }
  asPostgres(join(bin, "initdb"), ["-D", data, "-U", "postgres", "--pwfile", join(dir, "password"), "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"])
  const port = await freePort()
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`
  const start = () => asPostgres(join(bin, "pg_ctl"), ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "start"])
  const stop = () => asPostgres(join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"])
  start()
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    remove: () => {
      try {
        stop()
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
