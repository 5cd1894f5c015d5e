/**
 * The spool's load run, loopback only, bounded in count and time:
 *
 * 1. Burst: 1 KB messages from 64 concurrent clients (one keep-alive
 *    connection each, see `loadClient.ts`), first to
 *    the spool started with SPOOL_BASELINE (the same server answering 202
 *    without storing), then to the real spool. Accepted messages per
 *    second, p50/p99 latency, and the server's CPU time per message, side
 *    by side. Every accepted message must reach the sink.
 * 2. Sustained (skipped with --quick): 60 s at 5,000 messages per second
 *    (paced, latency counted from each message's planned send time), the
 *    sink slower than ingest from 15 s to 40 s. Per 10 s: throughput,
 *    p50/p99, the spool's heap and RSS, and how much is spooled on disk.
 *
 *   npm run spool:load                 (about 2 minutes)
 *   npm run spool:load -- --quick      (a smoke run: a few thousand messages)
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { get } from "node:http"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { keepAlive } from "./http.ts"
import { metric, type SpoolProcess, startSpool, until } from "./launch.ts"
import { Connection, type Reply } from "./loadClient.ts"
import { type Sink, startSink } from "./sink.ts"

const quick = process.argv.includes("--quick")
const clients = 64
const burstMessages = quick ? 1_500 : 40_000
const warmup = quick ? 500 : 2_000
const burstSeconds = quick ? 20 : 60
const sustainedSeconds = 60
const targetRate = 5_000
const slowSink = { from: 15, to: 40, delayMs: 1000 }

const message = JSON.stringify({ to: "load@example.org", body: "x".repeat(1024 - 40) })

/** One connection per client, opened before the clock starts. */
const connections = (spool: SpoolProcess) => Promise.all(Array.from({ length: clients }, () => Connection.open(spool.ingest)))

/** The id of an accepted message, if it was. */
const accepted = (reply: Reply) => reply.status === 202 ? (JSON.parse(reply.body) as { id: number }).id : undefined

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
const ms = (value: number) => `${value.toFixed(2)} ms`
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`

/** CPU time (user + system) of a process so far, in milliseconds, from /proc. */
const cpuMillis = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

interface Burst {
  readonly accepted: number
  readonly rejected: Map<number, number>
  readonly seconds: number
  readonly p50: number
  readonly p99: number
  readonly cpuPerMessage: number
  /** The load generator's own CPU per message (this process: the clients, and the sink). */
  readonly clientCpuPerMessage: number
  readonly ids: Array<number>
}

/** `count` messages from `clients` concurrent clients, each sending its next as soon as the last is answered. */
const burst = async (spool: SpoolProcess, count: number): Promise<Burst> => {
  const open = await connections(spool)
  const latencies: Array<number> = []
  const ids: Array<number> = []
  const rejected = new Map<number, number>()
  let next = 0
  const deadline = Date.now() + burstSeconds * 1000
  const cpuBefore = cpuMillis(spool.child.pid!)
  const clientBefore = process.cpuUsage()
  const started = performance.now()
  await Promise.all(open.map(async (connection) => {
    while (next < count && Date.now() < deadline) {
      next++
      const sent = performance.now()
      const reply = await connection.post(message)
      latencies.push(performance.now() - sent)
      const id = accepted(reply)
      if (id !== undefined) ids.push(id)
      else rejected.set(reply.status, (rejected.get(reply.status) ?? 0) + 1)
    }
  }))
  const seconds = (performance.now() - started) / 1000
  const cpu = cpuMillis(spool.child.pid!) - cpuBefore
  const client = process.cpuUsage(clientBefore)
  for (const connection of open) connection.close()
  latencies.sort((a, b) => a - b)
  return {
    accepted: ids.length,
    rejected,
    seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    cpuPerMessage: cpu / latencies.length,
    clientCpuPerMessage: (client.user + client.system) / 1000 / latencies.length,
    ids
  }
}

const report = (label: string, result: Burst) =>
  console.log(
    `${label.padEnd(9)} ${String(Math.round(result.accepted / result.seconds)).padStart(6)} msg/s  ` +
      `p50 ${ms(result.p50).padStart(9)}  p99 ${ms(result.p99).padStart(9)}  ` +
      `server CPU ${(result.cpuPerMessage * 1000).toFixed(0).padStart(4)} µs/msg  ` +
      `(load generator ${(result.clientCpuPerMessage * 1000).toFixed(0)} µs/msg)  ` +
      `(${result.accepted} accepted in ${result.seconds.toFixed(1)} s${result.rejected.size > 0 ? `, rejected: ${JSON.stringify(Object.fromEntries(result.rejected))}` : ""})`
  )

interface Window {
  readonly latencies: Array<number>
  accepted: number
  rejected: number
  readonly heap: Array<number>
  readonly rss: Array<number>
  spooled: number
  /** The load generator's own event-loop delay, p99 of the worst half second: its clients and the sink share it. */
  lag: number
  /** The spool's event-loop delay (p99 of its worst second) and main-thread CPU (its busiest second, % of a core). */
  spoolLag: number
  spoolCpu: number
}

/** Follows the spool's `/process` samples (Server-Sent Events, one a second); returns a function that stops. */
const followProcess = (observer: string, onSample: (sample: { readonly eventLoopDelay: { readonly p99: number }; readonly cpu: number }) => void) => {
  const request = get(`${observer}/process`, (response) => {
    let pending = ""
    response.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n")
      pending = lines.pop()!
      for (const line of lines) if (line.startsWith("data: ")) onSample(JSON.parse(line.slice(6)))
    })
  })
  // A diagnostic column: the spool may close the stream when it stops first; the figures then end there.
  request.on("error", () => {})
  return () => request.destroy()
}

const memoryRange = (values: ReadonlyArray<number>) => `${mb(Math.min(...values))}–${mb(Math.max(...values))}`

/**
 * Paced load: `targetRate` messages per second for `sustainedSeconds`, latency counted from each message's planned
 * send time (a spool that falls behind shows it). Memory is sampled twice a second; a window's lowest heap sample is
 * about what survives a garbage collection.
 */
const sustained = async (spool: SpoolProcess, sink: Sink) => {
  const open = await connections(spool)
  const probe = keepAlive(1)
  const perClient = targetRate / clients
  const started = performance.now()
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  const stopFollowing = followProcess(spool.observer, (sample) => {
    const window = windowAt(performance.now())
    window.spoolLag = Math.max(window.spoolLag, sample.eventLoopDelay.p99)
    window.spoolCpu = Math.max(window.spoolCpu, sample.cpu)
  })
  const windows: Array<Window> = []
  const windowAt = (at: number) => windows[Math.floor((at - started) / 10_000)] ??= { latencies: [], accepted: 0, rejected: 0, heap: [], rss: [], spooled: 0, lag: 0, spoolLag: 0, spoolCpu: 0 }
  const sampler = setInterval(async () => {
    const now = performance.now()
    const [heap, rss, spooled] = await Promise.all([
      metric(probe, spool.observer, "nodejs_heap_used_bytes"),
      metric(probe, spool.observer, "process_resident_memory_bytes"),
      metric(probe, spool.observer, "spool_messages_spooled")
    ])
    const window = windowAt(now)
    window.heap.push(heap)
    window.rss.push(rss)
    window.spooled = Math.max(window.spooled, spooled)
    window.lag = Math.max(window.lag, lag.percentile(99) / 1e6)
    lag.reset()
    const second = (now - started) / 1000
    sink.delay = second >= slowSink.from && second < slowSink.to ? slowSink.delayMs : 0
  }, 500)
  await Promise.all(open.map(async (connection, client) => {
    for (let n = 0;; n++) {
      const planned = started + (n + client / clients) * 1000 / perClient
      if (planned - started >= sustainedSeconds * 1000) break
      const wait = planned - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      const reply = await connection.post(message)
      const window = windowAt(planned)
      window.latencies.push(performance.now() - planned)
      if (accepted(reply) !== undefined) window.accepted++
      else window.rejected++
    }
  }))
  clearInterval(sampler)
  lag.disable()
  stopFollowing()
  sink.delay = 0
  for (const connection of open) connection.close()
  probe.destroy()
  console.log(`\nsustained: ${targetRate} msg/s for ${sustainedSeconds} s; the sink answers after ${slowSink.delayMs} ms from ${slowSink.from} s to ${slowSink.to} s`)
  console.log("window    accepted/s  refused  p50        p99        heap (min–max)  RSS (min–max)  most spooled  spool lag p99  spool CPU  generator lag p99")
  const measured = windows.slice(0, sustainedSeconds / 10)
  measured.forEach((window, i) => {
    window.latencies.sort((a, b) => a - b)
    console.log(
      `${`${i * 10}-${i * 10 + 10} s`.padEnd(10)}${String(Math.round(window.accepted / 10)).padStart(10)}  ${String(window.rejected).padStart(7)}  ` +
        `${ms(percentile(window.latencies, 0.5)).padEnd(10)} ${ms(percentile(window.latencies, 0.99)).padEnd(10)} ` +
        `${memoryRange(window.heap).padEnd(15)} ${memoryRange(window.rss).padEnd(14)} ${String(window.spooled).padEnd(13)} ${ms(window.spoolLag).padEnd(14)} ${`${window.spoolCpu.toFixed(0)} %`.padEnd(10)} ${ms(window.lag)}`
    )
  })
  const [first, last] = [measured[0]!, measured[measured.length - 1]!]
  console.log(
    `memory: heap after collections (lowest sample) ${mb(Math.min(...first.heap))} in the first window, ${mb(Math.min(...last.heap))} in the last; ` +
      `RSS ${mb(Math.max(...first.rss))} then ${mb(Math.max(...last.rss))}; the spool held up to ${Math.max(...measured.map((w) => w.spooled))} messages, on disk`
  )
  return measured.reduce((sum, window) => sum + window.accepted, 0)
}

const run = async () => {
  const dir = mkdtempSync(join(tmpdir(), "spool-load-"))
  const sink = await startSink()
  const env = (name: string) => ({ SPOOL_DB: join(dir, `${name}.db`), SPOOL_SINK_URL: sink.url })
  const probe = keepAlive(1)
  try {
    console.log(`spool load: ${clients} clients, messages of ${message.length} bytes, loopback; data in ${dir}`)
    const baselineSpool = await startSpool({ ...env("baseline"), SPOOL_BASELINE: "true" })
    await burst(baselineSpool, warmup)
    const baseline = await burst(baselineSpool, burstMessages)
    await baselineSpool.stop()

    const spool = await startSpool(env("spool"))
    await burst(spool, warmup)
    const commitsBefore = await metric(probe, spool.observer, "spool_commits_total")
    const durable = await burst(spool, burstMessages)
    const commits = (await metric(probe, spool.observer, "spool_commits_total")) - commitsBefore
    report("baseline", baseline)
    report("durable", durable)
    console.log(`group commit: ${commits} commits for ${durable.accepted} messages (${(durable.accepted / commits).toFixed(1)} per fsync)`)
    const rate = durable.accepted / durable.seconds
    console.log(
      `durable/baseline: ${(rate / (baseline.accepted / baseline.seconds)).toFixed(2)}x the throughput, ` +
        `${(durable.cpuPerMessage / baseline.cpuPerMessage).toFixed(2)}x the server CPU per message ` +
        `(targets: ≥ 5000 msg/s ${rate >= 5000 ? "met" : "NOT met"}, ≤ 2x the cost per message ` +
        `${durable.cpuPerMessage <= 2 * baseline.cpuPerMessage ? "met" : "NOT met"})`
    )
    if (durable.rejected.size > 0 || baseline.rejected.size > 0) throw new Error("some messages were not accepted")

    let accepted = durable.accepted + warmup
    if (!quick) accepted += await sustained(spool, sink)
    await until(async () => (await metric(probe, spool.observer, "spool_messages_spooled")) === 0, "the spool has drained", 180_000)
    await spool.stop()
    const missing = durable.ids.filter((id) => !sink.arrivals.has(id))
    console.log(`\ndelivered: ${sink.delivered()} distinct messages to the sink (${sink.redelivered()} redelivered); accepted ${accepted}`)
    if (missing.length > 0 || sink.delivered() < accepted) throw new Error(`${missing.length} accepted messages never reached the sink`)
    console.log("every accepted message reached the sink")
  } finally {
    probe.destroy()
    await sink.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

run().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
