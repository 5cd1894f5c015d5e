/**
 * The watchdog's worker thread. It reads the heartbeat the main thread writes
 * into shared memory and, when the main thread has been silent for the
 * threshold, investigates: the main thread's JavaScript stack through an
 * inspector session opened only for that, the thread's state, memory, CPU and
 * the last snapshot the main thread shared. It writes one JSON line per stall
 * with `fs.writeSync` (`console` in a worker is relayed through the stalled
 * main thread), optionally records a CPU profile, optionally kills the
 * process, and tells the main thread about the stall once it is over.
 *
 * It checks when the deadline would pass rather than at a fixed rate: one
 * wake-up per threshold while all is well, which keeps the idle cost low and
 * the detection latency at a timer's slack.
 */
import { readFileSync, writeFileSync, writeSync } from "node:fs"
import { join } from "node:path"
import process from "node:process"
import { parentPort, workerData } from "node:worker_threads"
import type { Capture, Connection } from "./stackCapture.ts"
import { captureStack, connectToMainThread, noAnswer, Timeout } from "./stackCapture.ts"
import type { FromWorker, ToWorker, WorkerData } from "./watchdogProtocol.ts"
import { Cell } from "./watchdogProtocol.ts"

const { shared, config } = workerData as WorkerData
const cells = new BigInt64Array(shared)
const port = parentPort!

let snapshot = "null"
port.on("message", (message: ToWorker) => {
  if (message._tag === "Snapshot") snapshot = message.json
})

const millisSince = (hrtime: bigint): number => Number(process.hrtime.bigint() - hrtime) / 1e6

const write = (record: object): void => {
  try {
    writeSync(config.fd, JSON.stringify(record) + "\n")
  } catch {
    // Nowhere left to report to: the stall itself still reaches the main thread.
  }
}

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

const threadStates: Record<string, string> = {
  R: "running",
  S: "sleeping",
  D: "waiting (uninterruptible, usually disk I/O)",
  T: "stopped",
  t: "stopped by a debugger (ptrace)",
  Z: "zombie"
}

/** The main thread's scheduler state (Linux only: its thread id is the process id). */
const threadState = () => {
  if (process.platform !== "linux") return undefined
  try {
    const task = `/proc/self/task/${process.pid}`
    const stat = readFileSync(`${task}/stat`, "utf8")
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "?"
    const wchan = readFileSync(`${task}/wchan`, "utf8").trim()
    return { tid: process.pid, state, description: threadStates[state] ?? "unknown", wchan }
  } catch {
    return undefined
  }
}

/** Process CPU use, sampled at every check so a stall's report shows the rate during it. */
let cpuSample = { usage: process.cpuUsage(), at: process.hrtime.bigint() }

const cpu = () => {
  const usage = process.cpuUsage()
  const elapsed = millisSince(cpuSample.at)
  const used = (usage.user - cpuSample.usage.user + usage.system - cpuSample.usage.system) / 1000
  return {
    userMs: Math.round(usage.user / 1000),
    systemMs: Math.round(usage.system / 1000),
    recentPercent: elapsed > 0 ? Math.round(used / elapsed * 1000) / 10 : 0,
    recentWindowMs: Math.round(elapsed)
  }
}

const summarizeProfile = (profile: any, urls: Map<string, string>) => {
  const samples = new Map<number, number>()
  for (const id of profile.samples ?? []) samples.set(id, (samples.get(id) ?? 0) + 1)
  const total = profile.samples?.length ?? 0
  const top = (profile.nodes as Array<any>)
    .map((node) => ({ node, hits: samples.get(node.id) ?? 0 }))
    .filter(({ hits }) => hits > 0)
    .sort((a, b) => b.hits - a.hits)
    .slice(0, 5)
    .map(({ hits, node }) => ({
      functionName: node.callFrame.functionName || "(anonymous)",
      url: node.callFrame.url || urls.get(node.callFrame.scriptId) || "",
      // -1 when V8 has no position for it, as for code compiled before the profile started.
      ...(node.callFrame.lineNumber >= 0 ? { line: node.callFrame.lineNumber + 1 } : {}),
      selfPercent: Math.round(hits / Math.max(total, 1) * 1000) / 10
    }))
  return { samples: total, top }
}

/** Records a CPU profile of the main thread for the configured window, written as a `.cpuprofile` file. */
const recordProfile = async (connection: Connection, stall: number): Promise<string | undefined> => {
  const window = config.profile!
  try {
    await connection.post("Profiler.enable")
    await connection.post("Profiler.start")
    await sleep(window.duration)
    const { profile } = await connection.post("Profiler.stop")
    await connection.post("Profiler.disable")
    const path = join(window.directory, `arbor-stall-${process.pid}-${Date.now()}-${stall}.cpuprofile`)
    writeFileSync(path, JSON.stringify(profile))
    write({ type: "arbor.watchdog.profile", stall, pid: process.pid, path, ...summarizeProfile(profile, connection.urls) })
    return path
  } catch (error) {
    const reason = error instanceof Timeout ? noAnswer(connection, "no profile") : String(error)
    write({ type: "arbor.watchdog.profile", stall, pid: process.pid, unavailable: reason })
    return undefined
  }
}

interface Stall {
  readonly number: number
  readonly beat: bigint
  readonly at: number
  recovered: boolean
  onRecovered: Array<() => void>
}

let stalls = 0

/** Everything the worker does about one stall, in order; the main thread hears of it once it is over. */
const investigate = async (stall: Stall, silentFor: number): Promise<Omit<Extract<FromWorker, { _tag: "Recovered" }>, "_tag" | "stalledFor">> => {
  const recentCpu = cpu()
  // A debugger may hold the main thread at a breakpoint: a capture would resume it behind the user's back.
  const debuggerAttached = Atomics.load(cells, Cell.debugger) === 1n
  const connection = !debuggerAttached && (config.captureStack || config.profile !== undefined)
    ? connectToMainThread(config.captureTimeout)
    : undefined
  let capture: Capture = {
    stack: [],
    stackUnavailable: debuggerAttached
      ? "not captured: the inspector is active, a debugger may hold the main thread at a breakpoint"
      : "stack capture is off (captureStack: false)"
  }
  let heap: { usedSize: number; totalSize: number } | undefined
  let answered = false
  try {
    if (connection !== undefined) {
      try {
        // A cheap request first: a main thread in native code does not answer it, and it reports the heap.
        heap = await connection.post("Runtime.getHeapUsage")
        answered = true
      } catch (error) {
        if (!(error instanceof Timeout)) throw error
        capture = { stack: [], stackUnavailable: noAnswer(connection, "no JavaScript stack") }
      }
      if (answered && config.captureStack) {
        capture = await captureStack(connection, () => Atomics.load(cells, Cell.beat) !== stall.beat)
      }
    }
  } catch (error) {
    connection?.close()
    capture = { stack: [], stackUnavailable: `no JavaScript stack: the capture failed: ${String(error)}` }
  }
  const exits = config.action === "exit" && !debuggerAttached
  write({
    type: "arbor.watchdog.stall",
    stall: stall.number,
    pid: process.pid,
    at: new Date(stall.at).toISOString(),
    stalledForMs: Math.round(silentFor),
    thresholdMs: config.threshold,
    stack: capture.stack,
    ...(capture.stackUnavailable === undefined ? {} : { stackUnavailable: capture.stackUnavailable }),
    thread: threadState(),
    memory: {
      rss: process.memoryUsage.rss(),
      ...(heap === undefined ? {} : { heapUsed: heap.usedSize, heapTotal: heap.totalSize })
    },
    cpu: recentCpu,
    snapshot: JSON.parse(snapshot),
    action: exits ? "exit" : "log",
    ...(exits ? { signal: config.signal, exitAfterMs: config.exitAfter } : {}),
    ...(config.action === "exit" && debuggerAttached ? { note: "not exiting: a debugger is attached" } : {})
  })
  let profile: string | undefined
  if (connection !== undefined && config.profile !== undefined && answered && connection.isOpen()) {
    profile = await recordProfile(connection, stall.number)
  }
  connection?.close()
  if (exits) await exit(stall)
  return { at: stall.at, stack: capture.stack, stackUnavailable: capture.stackUnavailable, profile }
}

/** Kills the process unless the main thread recovers during `exitAfter` (or a debugger was attached since). */
const exit = async (stall: Stall): Promise<void> => {
  // A main thread that recovered while the report was being written has no recovery left to wait for.
  if (config.exitAfter > 0 && !stall.recovered) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, config.exitAfter)
      stall.onRecovered.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
  if (stall.recovered || Atomics.load(cells, Cell.debugger) === 1n) return
  // A signal with a JavaScript handler would wait for the stalled main thread: these two never do.
  process.kill(process.pid, config.signal)
}

let current: { stall: Stall; report: ReturnType<typeof investigate> } | undefined

const check = (): void => {
  const beat = Atomics.load(cells, Cell.beat)
  const silentFor = millisSince(beat)
  if (current === undefined) {
    if (silentFor < config.threshold) {
      cpuSample = { usage: process.cpuUsage(), at: process.hrtime.bigint() }
      setTimeout(check, config.threshold - silentFor + 1)
      return
    }
    const stall: Stall = { number: ++stalls, beat, at: Date.now(), recovered: false, onRecovered: [] }
    current = { stall, report: investigate(stall, silentFor) }
  } else if (beat !== current.stall.beat) {
    const { report, stall } = current
    const stalledFor = Number(beat - stall.beat) / 1e6
    current = undefined
    stall.recovered = true
    for (const callback of stall.onRecovered) callback()
    void report.then((report) => port.postMessage({ _tag: "Recovered", stalledFor, ...report } satisfies FromWorker))
    setTimeout(check, Math.max(config.threshold - millisSince(beat), 0) + 1)
    return
  }
  setTimeout(check, config.poll)
}

check()
port.postMessage({ _tag: "Watching" } satisfies FromWorker)
