/**
 * The watchdog's cost and speed, measured on real processes:
 *
 * - idle CPU: two idle processes side by side over the same window, one
 *   without a watchdog and one armed with the default settings; each reads its
 *   own process.cpuUsage() after a warm-up (the worker's start-up is a one-off).
 * - detection latency: processes that block their event loop in a busy loop.
 *   A stall is a silence of `threshold` since the last heartbeat, which came
 *   up to one heartbeat before the block began: "late" is how far past that
 *   deadline the worker noticed (timer slack), "blocked" how long the loop had
 *   been blocked when it did, "written" when the JSON line (stack captured)
 *   reached this process, counted from the start of the block.
 *
 *   npm run bench:watchdog                       (WATCHDOG_IDLE_SECONDS=20 by default)
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const self = fileURLToPath(import.meta.url)
const role = process.argv[2]

const child = (args: ReadonlyArray<string>): { process: ChildProcess; lines: Array<{ text: string; at: number }>; exited: Promise<void> } => {
  const proc = spawn(process.execPath, ["--conditions=@arbor/source", self, ...args], { stdio: ["ignore", "pipe", "pipe"] })
  const lines: Array<{ text: string; at: number }> = []
  let pending = ""
  const onData = (chunk: Buffer) => {
    const at = Date.now()
    pending += chunk.toString()
    const parts = pending.split("\n")
    pending = parts.pop()!
    for (const text of parts) lines.push({ text, at })
  }
  proc.stdout!.on("data", onData)
  proc.stderr!.on("data", onData)
  return { process: proc, lines, exited: new Promise((resolve) => proc.on("exit", () => resolve())) }
}

/** A child: idle for the window, with or without a watchdog; prints its CPU use as a percentage of one core. */
const idle = async (armed: boolean, seconds: number) => {
  // Both load the same modules: the difference is the watchdog's alone.
  const { Watchdog } = await import("@arbor/node")
  if (armed) await Watchdog.arm().ready
  await new Promise((resolve) => setTimeout(resolve, 2_000))
  const before = process.cpuUsage()
  const started = process.hrtime.bigint()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1_000))
  const used = process.cpuUsage(before)
  const elapsed = Number(process.hrtime.bigint() - started) / 1_000
  console.log(`cpu ${((used.user + used.system) / elapsed * 100).toFixed(4)}`)
  console.log(`rss ${process.memoryUsage.rss()}`)
}

/** A child: blocks its event loop for threshold + 1.5 s and prints when the block began. */
const stall = async (threshold: number) => {
  const { Watchdog } = await import("@arbor/node")
  await Watchdog.arm({ threshold }).ready
  // A moment for the heartbeat to settle into its rhythm, as in a running service.
  await new Promise((resolve) => setTimeout(resolve, threshold / 2 + Math.random() * threshold / 5))
  const began = Date.now()
  const end = began + threshold + 1_500
  while (Date.now() < end) {
    // blocked
  }
  console.log(`began ${began}`)
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const range = (values: ReadonlyArray<number>) =>
  `median ${median(values).toFixed(0)} ms (min ${Math.min(...values).toFixed(0)}, max ${Math.max(...values).toFixed(0)})`

const main = async () => {
  const seconds = Number(process.env["WATCHDOG_IDLE_SECONDS"] ?? 20)
  console.log(`Node ${process.version}, ${(await import("node:os")).cpus().length} CPUs`)
  console.log(`idle CPU over ${seconds} s (after a 2 s warm-up), % of one core:`)
  const runs = [child(["idle", "none", String(seconds)]), child(["idle", "armed", String(seconds)])]
  await Promise.all(runs.map((run) => run.exited))
  const read = (key: string) => runs.map((run) => Number(run.lines.find((line) => line.text.startsWith(`${key} `))!.text.slice(4)))
  const [none, armed] = read("cpu")
  const [noneRss, armedRss] = read("rss").map((bytes) => bytes / 2 ** 20)
  console.log(`  without a watchdog     ${none!.toFixed(3)} %   RSS ${noneRss!.toFixed(1)} MiB`)
  console.log(
    `  Watchdog.arm() default ${armed!.toFixed(3)} %   RSS ${armedRss!.toFixed(1)} MiB ` +
      `(difference ${(armed! - none!).toFixed(3)} %, ${(armedRss! - noneRss!).toFixed(1)} MiB)`
  )

  for (const [threshold, trials] of [[500, 5], [1_000, 5], [5_000, 3]] as const) {
    const late: Array<number> = []
    const blocked: Array<number> = []
    const written: Array<number> = []
    for (let i = 0; i < trials; i++) {
      const run = child(["stall", String(threshold)])
      await run.exited
      const began = Number(run.lines.find((line) => line.text.startsWith("began "))!.text.slice(6))
      const line = run.lines.find((line) => line.text.includes("\"type\":\"arbor.watchdog.stall\""))!
      const report = JSON.parse(line.text)
      late.push(report.stalledForMs - threshold)
      blocked.push(Date.parse(report.at) - began)
      written.push(line.at - began)
    }
    console.log(`threshold ${threshold} ms (heartbeat ${threshold / 5} ms), ${trials} stalls:`)
    console.log(`  late    ${range(late)}`)
    console.log(`  blocked ${range(blocked)}`)
    console.log(`  written ${range(written)}`)
  }
}

if (role === "idle") await idle(process.argv[3] === "armed", Number(process.argv[4]))
else if (role === "stall") await stall(Number(process.argv[3]))
else await main()
