/**
 * `npm run example:cluster`: three runners of `main.ts` on this machine,
 * sharing an embedded store (a SQLite file in a temporary directory), each
 * with its observer. Once the ledger has run for a few seconds, the demo
 * kills its runner with SIGKILL and shows another one take over, with a new
 * fencing token; then it starts a runner in the dead one's place. Ctrl-C
 * stops them all gracefully.
 *
 *   npm run example:cluster               runs until Ctrl-C
 *   npm run example:cluster -- --once     stops after the failover
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const once = process.argv.includes("--once")
const lease = "3 seconds"
const main = fileURLToPath(new URL("./main.ts", import.meta.url))
const store = join(mkdtempSync(join(tmpdir(), "arbor-cluster-demo-")), "cluster.db")

interface Runner {
  readonly name: string
  readonly address: string
  readonly child: ChildProcess
  observer: string | undefined
}

const say = (line: string) => console.log(`[demo]     ${line}`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

/** Starts a runner, its lines prefixed with its name; the invoices it issues are left out, its auditor says as much. */
const start = async (name: string): Promise<Runner> => {
  const port = await freePort()
  const child = spawn(process.execPath, [...process.execArgv, main, "--port", String(port), "--store", store, "--lease", lease], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  const runner: Runner = { name, address: `127.0.0.1:${port}`, child, observer: undefined }
  const print = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) {
      runner.observer ??= /observer listening on (\S+)/.exec(line)?.[1]
      if (line.trim() !== "" && !/invoice \d+ issued/.test(line) && !line.startsWith(" ")) console.log(`[${name}] ${line}`)
    }
  }
  child.stdout!.on("data", print)
  child.stderr!.on("data", print)
  while (runner.observer === undefined) await sleep(50)
  return runner
}

/** The runner whose tree runs, as the runners' `/tree` say, once one does. */
const owner = async (runners: ReadonlyArray<Runner>): Promise<Runner> => {
  while (true) {
    for (const runner of runners) {
      const tree = await fetch(`${runner.observer}/tree`, { signal: AbortSignal.timeout(500) })
        .then((response) => response.json() as Promise<{ root: { state: string }; cluster: { role: string; fencingToken: number } }>)
        .catch(() => undefined)
      if (tree?.root.state === "running" && tree.cluster.role === "owner") return runner
    }
    await sleep(100)
  }
}

const runners = [await start("runner 1"), await start("runner 2"), await start("runner 3")]
say(`three runners share ${store}; lease ${lease}`)
for (const runner of runners) say(`${runner.name}: runner ${runner.address}, observer ${runner.observer} (curl -s ${runner.observer}/tree)`)

let stopping = false
const stopAll = async () => {
  stopping = true
  for (const runner of runners) runner.child.kill("SIGTERM")
  await Promise.all(runners.map((runner) => runner.child.exitCode !== null ? undefined : new Promise((resolve) => runner.child.once("exit", resolve))))
}
process.on("SIGINT", () => void stopAll().then(() => process.exit(0)))
process.on("SIGTERM", () => void stopAll().then(() => process.exit(0)))

// Joining runners take their share of the shards: let ownership settle before the kill.
await sleep(6_000)
const doomed = await owner(runners)
say(`the ledger runs on ${doomed.name}: kill -9 ${doomed.child.pid}`)
const killed = Date.now()
doomed.child.kill("SIGKILL")
const survivors = runners.filter((runner) => runner !== doomed)
const heir = await owner(survivors)
say(`${heir.name} took the ledger over ${Date.now() - killed} ms after the kill (lease ${lease})`)

if (once) {
  runners.splice(runners.indexOf(doomed), 1)
  await stopAll()
  say("done")
} else {
  await sleep(3_000)
  if (!stopping) {
    runners.splice(runners.indexOf(doomed), 1, await start("runner 4"))
    say("runner 4 joined in the dead runner's place; the shards may move to it. Ctrl-C stops them all.")
  }
}
