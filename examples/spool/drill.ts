/**
 * The fault drill: breaks the spool's store for real while traffic flows,
 * and shows what the spool does, then heals it.
 *
 * 1. Disk full: the store on a 16 MB tmpfs, a filler file written until
 *    the disk has no space left (ENOSPC; SQLite answers "database or disk
 *    is full").
 * 2. A file made unwritable under the store: the immutable flag
 *    (`chattr +i`) on SQLite's WAL file, on the regular disk (SQLite
 *    answers "disk I/O error"). As root, permission bits do not stop a
 *    write, and an open file keeps the access it was opened with; the
 *    immutable flag stops both.
 *
 * Each time: the gate latches at once (fatal), ingest answers 503 with
 * Retry-After within a second, `/readyz` and the metrics say why; while the
 * store is still broken the gate stays latched (the monitor's canary keeps
 * failing); once healed it clears after SPOOL_UNLATCH_AFTER (1 s here),
 * traffic flows again, and every message answered 202 reaches the sink.
 *
 * Mounting a tmpfs needs root (CI runs as root); without root the drill fails
 * saying so.
 *
 *   npm run spool:drill
 */
import { execFileSync } from "node:child_process"
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { keepAlive, send } from "./http.ts"
import { metric, startSpool, startTraffic, until } from "./launch.ts"
import { startSink } from "./sink.ts"

const unlatchAfterMillis = 1000
const started = performance.now()
const say = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(2).padStart(6)} s] ${line}`)

interface Fault {
  readonly name: string
  /** The directory the store lives in. */
  readonly dir: string
  readonly inject: (db: string) => void
  readonly heal: (db: string) => void
}

/** Fills the file system under `dir` until a write fails with ENOSPC. */
const fill = (file: string) => {
  const fd = openSync(file, "w")
  const chunk = Buffer.alloc(64 * 1024)
  try {
    for (;;) writeSync(fd, chunk)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error
  } finally {
    closeSync(fd)
  }
}

/** One fault, start to end; resolves with how many messages reached the sink. */
const drill = async (fault: Fault): Promise<number> => {
  say(`--- ${fault.name} ---`)
  // A sink of its own: ids count from 1 in each new store.
  const sink = await startSink()
  const db = join(fault.dir, "spool.db")
  const spool = await startSpool({
    SPOOL_DB: db,
    SPOOL_SINK_URL: sink.url,
    SPOOL_UNLATCH_AFTER: `${unlatchAfterMillis} millis`,
    SPOOL_MONITOR_INTERVAL: "100 millis"
  })
  const probe = keepAlive(2)
  const traffic = startTraffic(spool.ingest, { clients: 8, maxMillis: 60_000 })
  const count = (status: number, from = 0) => traffic.answers.filter((a) => a.at >= from && a.status === status).length
  try {
    await until(() => traffic.accepted.length >= 200, "traffic flows")
    say(`traffic flowing: ${traffic.accepted.length} messages accepted (202)`)

    const t0 = performance.now()
    fault.inject(db)
    const injectedAt = performance.now() - traffic.started
    say("fault injected")
    await until(() => count(503, injectedAt) > 0, "ingest answers 503", 10_000)
    const first503 = traffic.answers.find((a) => a.at >= injectedAt && a.status === 503)!
    say(`first 503 from ingest ${(first503.at - injectedAt).toFixed(0)} ms after the fault`)
    const ready = await send(probe, `${spool.observer}/readyz`)
    say(`GET /readyz -> ${ready.status} ${ready.body}`)
    const refused = await send(probe, `${spool.ingest}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: "drill@example.org", body: "while broken" })
    })
    say(`POST /messages -> ${refused.status} retry-after: ${refused.headers["retry-after"]} ${refused.body}`)
    const metrics = (await send(probe, `${spool.observer}/metrics`)).body.split("\n")
      .filter((line) => /^(arbor_health_gate_latched|arbor_health_gate_latches_total|spool_commits_failed_total)/.test(line))
    for (const line of metrics) say(`metrics: ${line}`)
    if (ready.status !== 503 || !ready.body.includes("health gate store latched")) throw new Error("/readyz does not say the gate latched")
    if (first503.at - injectedAt > 1000) throw new Error("ingest took longer than a second to answer 503")

    await new Promise((resolve) => setTimeout(resolve, 2 * unlatchAfterMillis))
    const still = await send(probe, `${spool.observer}/readyz`)
    say(`still broken ${(2 * unlatchAfterMillis / 1000).toFixed(0)} s later: /readyz -> ${still.status} (the canary keeps failing)`)
    if (still.status !== 503) throw new Error("the gate cleared while the store was still broken")

    fault.heal(db)
    const healedAt = performance.now()
    say("fault healed")
    await until(async () => (await send(probe, `${spool.observer}/readyz`)).status === 200, "the gate clears", 30_000)
    say(`gate cleared ${((performance.now() - healedAt) / 1000).toFixed(2)} s after the heal (unlatchAfter: ${unlatchAfterMillis} ms); /readyz -> 200`)
    const before = traffic.accepted.length
    await until(() => traffic.accepted.length >= before + 200, "traffic flows again")
    say(`traffic flowing again: ${traffic.accepted.length - before} more accepted`)
    await traffic.stop()
    say(`answers during the drill: ${count(202)} x 202, ${count(503)} x 503 (${((performance.now() - t0) / 1000).toFixed(1)} s since the fault)`)

    const missing = () => traffic.accepted.filter((id) => !sink.arrivals.has(id))
    await until(() => missing().length === 0, "every accepted message reached the sink").catch(async (error) => {
      const spooled = await metric(probe, spool.observer, "spool_messages_spooled")
      throw new Error(`${error.message}: ${missing().length} missing (${missing().slice(0, 10).join(", ")}), ${spooled} spooled`)
    })
    await until(async () => (await metric(probe, spool.observer, "spool_messages_spooled")) === 0, "the spool is empty")
    say(`delivered: all ${traffic.accepted.length} accepted messages reached the sink; the spool is empty`)
    const latches = await metric(probe, spool.observer, "arbor_health_gate_latches_total")
    say(`the gate latched ${latches} time(s); the sink saw ${sink.redelivered()} redeliveries`)
    return sink.delivered()
  } catch (error) {
    await traffic.stop()
    console.log(`spool output:\n${spool.output()}`)
    throw error
  } finally {
    probe.destroy()
    await spool.stop()
    await sink.close()
  }
}

const run = async () => {
  if (process.getuid?.() !== 0) {
    throw new Error("the fault drill mounts a tmpfs, which needs root: run it as root (CI does), e.g. sudo npm run spool:drill")
  }
  const base = mkdtempSync(join(tmpdir(), "spool-drill-"))
  const mount = join(base, "tmpfs")
  mkdirSync(mount)
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mount])
  const onDisk = join(base, "disk")
  mkdirSync(onDisk)
  try {
    const full = await drill({
      name: "disk full (a 16 MB tmpfs, filled until ENOSPC)",
      dir: mount,
      inject: () => fill(join(mount, "filler")),
      heal: () => rmSync(join(mount, "filler"))
    })
    const unwritable = await drill({
      name: "a file made unwritable (chattr +i on SQLite's WAL file)",
      dir: onDisk,
      inject: (db) => execFileSync("chattr", ["+i", `${db}-wal`]),
      heal: (db) => execFileSync("chattr", ["-i", `${db}-wal`])
    })
    say(`drill passed: ${full + unwritable} messages accepted and delivered, none lost`)
  } finally {
    execFileSync("umount", [mount])
    try {
      execFileSync("chattr", ["-i", join(onDisk, "spool.db-wal")], { stdio: "ignore" })
    } catch {
      // not set, or the file is gone
    }
    rmSync(base, { recursive: true, force: true })
  }
}

run().then(
  () => process.exit(0),
  (error) => {
    console.error(String(error instanceof Error ? error.message : error))
    process.exit(1)
  }
)
