/**
 * The spool, as real processes (SIGKILL, a store that cannot open, bad
 * input) and in-process with an injected failing or slow storage adapter.
 * Bounds are generous: these check behaviour, not speed.
 */
import { Toplevel } from "@arbor/core"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Logger } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { run } from "../../packages/node/test/process.ts"
import { keepAlive, send } from "./http.ts"
import { metric, post, startSpool, startTraffic, until } from "./launch.ts"
import { startSink } from "./sink.ts"
import { Spool } from "./spool.ts"
import { openSqlite } from "./sqlite.ts"
import type { Storage } from "./store.ts"

const fresh = () => mkdtempSync(join(tmpdir(), "spool-test-"))

describe("examples/spool as a process", () => {
  it("answers 202 once stored; bad input gets a 4xx with a reason and leaves nothing behind", async () => {
    const dir = fresh()
    const sink = await startSink()
    const spool = await startSpool({ SPOOL_DB: join(dir, "spool.db"), SPOOL_SINK_URL: sink.url, SPOOL_MAX_MESSAGE_BYTES: "2048" })
    const agent = keepAlive(4)
    try {
      const json = { "content-type": "application/json" }
      const bad = await Promise.all([
        send(agent, `${spool.ingest}/messages`, { method: "POST", body: JSON.stringify({ to: "a@b", body: "no type" }) }),
        send(agent, `${spool.ingest}/messages`, { method: "POST", headers: json, body: "{\"to\": \"a@b\", \"body\": " }),
        send(agent, `${spool.ingest}/messages`, { method: "POST", headers: json, body: JSON.stringify({ to: "a@b" }) }),
        send(agent, `${spool.ingest}/messages`, { method: "POST", headers: json, body: JSON.stringify({ to: "a@b", body: "x", cc: "c@d" }) }),
        send(agent, `${spool.ingest}/messages`, { method: "POST", headers: json, body: JSON.stringify({ to: "a@b", body: "x".repeat(4096) }) }),
        send(agent, `${spool.ingest}/messages`, { method: "POST", headers: { ...json, "x-deadline-ms": "soon" }, body: JSON.stringify({ to: "a@b", body: "x" }) })
      ])
      expect(bad.map((answer) => answer.status)).toEqual([415, 400, 400, 400, 413, 400])
      expect(bad.map((answer) => JSON.parse(answer.body).error)).toEqual([
        "the content type must be application/json",
        expect.stringContaining("malformed message"),
        expect.stringMatching(/malformed message: .*body/),
        expect.stringMatching(/malformed message: .*cc/),
        "a message may have at most 2048 bytes",
        "x-deadline-ms must be a positive number of milliseconds"
      ])
      const good = await post(agent, spool.ingest, { to: "ada@example.org", body: "hello" })
      expect(good.status).toBe(202)
      await until(() => sink.delivered() === 1, "the message reached the sink")
      expect([...sink.arrivals.keys()]).toEqual([good.id])
      expect(await metric(agent, spool.observer, "spool_messages_accepted_total")).toBe(1)
      await until(async () => (await metric(agent, spool.observer, "spool_messages_spooled")) === 0, "the spool is empty")
    } finally {
      agent.destroy()
      await spool.stop()
      await sink.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("a store path that cannot be opened is a startup error naming the path", async () => {
    const program = run(join(import.meta.dirname, "main.ts"), [], {
      SPOOL_DB: "/nonexistent-dir/spool.db",
      SPOOL_PORT: "0",
      ARBOR_OBSERVER_PORT: "0"
    })
    expect(await program.exited()).toBe(1)
    expect(program.output()).toContain("spool/store: startup failed")
    expect(program.output()).toContain("cannot open the spool store at /nonexistent-dir/spool.db: unable to open database file")
  })

  it("loses no accepted message when killed with SIGKILL mid-burst: each is delivered once after a restart", async () => {
    const dir = fresh()
    const sink = await startSink()
    const env = { SPOOL_DB: join(dir, "spool.db"), SPOOL_SINK_URL: sink.url, SPOOL_DELIVERY_BATCH: "50" }
    try {
      const first = await startSpool(env)
      // A slow next hop (4 batches of 50 at a time, 300 ms each): at the kill, part of the burst is delivered,
      // part in delivery, the rest still spooled.
      sink.delay = 300
      const traffic = startTraffic(first.ingest, { clients: 32 })
      await until(() => traffic.accepted.length >= 1500 && sink.delivered() > 0, "a burst is under way")
      first.child.kill("SIGKILL")
      expect(await first.exited).toBe("SIGKILL")
      await traffic.stop()
      sink.delay = 0
      const accepted = [...traffic.accepted]
      const delivered = sink.delivered()

      const second = await startSpool(env)
      const probe = keepAlive(1)
      try {
        await until(() => accepted.every((id) => sink.arrivals.has(id)), "every accepted message reached the sink")
        await until(async () => (await metric(probe, second.observer, "spool_messages_spooled")) === 0, "the spool is empty")
      } finally {
        probe.destroy()
        await second.stop()
      }
      // Part of the burst had been delivered before the kill; the rest was requeued at the restart.
      expect(delivered).toBeGreaterThan(0)
      expect(delivered).toBeLessThan(accepted.length)
      expect(new Set(accepted).size).toBe(accepted.length)
      // The sink takes each message once; a message whose delivery the kill cut short arrives twice, at most.
      for (const id of accepted) expect(sink.arrivals.get(id)).toBeLessThanOrEqual(2)
      // Stored but not answered before the kill: at most one request in flight per client.
      expect(sink.delivered() - accepted.length).toBeLessThanOrEqual(32)
    } finally {
      await sink.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000)

  it("stopped with SIGTERM under traffic: stops accepting, answers what is in flight, exits 0; nothing accepted is lost", async () => {
    const dir = fresh()
    const sink = await startSink()
    const env = { SPOOL_DB: join(dir, "spool.db"), SPOOL_SINK_URL: sink.url }
    try {
      const first = await startSpool(env)
      const traffic = startTraffic(first.ingest, { clients: 32, pause: 50 })
      await until(() => traffic.accepted.length >= 1000, "traffic is under way")
      expect(await first.stop()).toBe(0)
      await traffic.stop()
      // The ingest settled by itself: it answered what was in flight within its budget, nothing had to be interrupted.
      expect(first.output()).toContain("shutdown complete")
      expect(first.output()).not.toContain("did not settle")
      const accepted = [...traffic.accepted]
      const second = await startSpool(env)
      try {
        await until(() => accepted.every((id) => sink.arrivals.has(id)), "every accepted message reached the sink")
      } finally {
        await second.stop()
      }
    } finally {
      await sink.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000)
})

/** Wraps SQLite's storage with a switch: while `failing`, a commit fails as a full disk would; `slow` delays each commit. */
const adapter = () => {
  const control = { failing: false, slow: 0 }
  const open = (path: string): Promise<Storage> =>
    openSqlite(path).then((storage) => ({
      ...storage,
      commit: async (append, remove, touch) => {
        if (control.slow > 0) await new Promise((resolve) => setTimeout(resolve, control.slow))
        if (control.failing) throw Object.assign(new Error("database or disk is full (injected)"), { code: 13 })
        return storage.commit(append, remove, touch)
      }
    }))
  return { control, open }
}

/** Runs the spool in this process with `open` and `env`; resumes with its ingest URL once it listens. */
const inProcess = (open: (path: string) => Promise<Storage>, env: Record<string, string>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const logger = Logger.make((options) => lines.push((options.message as ReadonlyArray<unknown>).map(String).join(" ")))
    const toplevel: Toplevel.Toplevel<never> = Toplevel.make("spool", new Spool(open), { strategy: "rest_for_one" })
    const fiber = yield* toplevel.start().pipe(
      Effect.provide(Logger.layer([logger])),
      Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: { SPOOL_PORT: "0", ...env } })),
      Effect.forkChild
    )
    yield* Effect.promise(() => until(() => lines.some((line) => line.startsWith("ingest listening on")), "the ingest listens"))
    const ingest = /ingest listening on (\S+)/.exec(lines.find((line) => line.startsWith("ingest listening on"))!)![1]!
    const stop = Effect.andThen(Effect.sync(() => toplevel.shutdownToken.signal()), Effect.orDie(Fiber.join(fiber)))
    return { toplevel, ingest, lines, stop }
  })

/** An in-process spool over an injectable adapter, with a sink and a directory of its own, until the scope closes. */
const spoolOverAdapter = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const dir = fresh()
      const sink = yield* Effect.promise(() => startSink())
      const { control, open } = adapter()
      const spool = yield* inProcess(open, { SPOOL_DB: join(dir, "spool.db"), SPOOL_SINK_URL: sink.url, ...env })
      const gate = Effect.map(spool.toplevel.snapshot, (snapshot) => snapshot.gates?.[0])
      return { ...spool, sink, control, dir, gate }
    }),
    ({ dir, sink, stop }) =>
      Effect.andThen(stop, Effect.promise(async () => {
        await sink.close()
        rmSync(dir, { recursive: true, force: true })
      }))
  )

describe("examples/spool with an injected storage adapter", () => {
  it.live("a failing store latches the gate: 503 within a second; healed, the gate clears and nothing accepted is lost", () =>
    Effect.scoped(Effect.gen(function*() {
      const spool = yield* spoolOverAdapter({ SPOOL_UNLATCH_AFTER: "500 millis", SPOOL_MONITOR_INTERVAL: "50 millis" })
      const traffic = startTraffic(spool.ingest, { clients: 4 })
      yield* Effect.promise(() => until(() => traffic.accepted.length >= 50, "traffic flows"))
      spool.control.failing = true
      const failedAt = performance.now() - traffic.started
      yield* Effect.promise(() => until(() => traffic.answers.some((a) => a.at > failedAt && a.status === 503), "a 503", 5_000))
      const first503 = traffic.answers.find((a) => a.at > failedAt && a.status === 503)!
      expect(first503.at - failedAt).toBeLessThan(1000)
      expect(yield* spool.gate).toMatchObject({ name: "store", state: "latched", reason: "fatal: StoreFailed: database or disk is full (injected)" })
      yield* Effect.sleep("1500 millis")
      expect((yield* spool.gate)?.state).toBe("latched")
      spool.control.failing = false
      yield* Effect.promise(() => until(() => traffic.answers.at(-1)?.status === 202, "traffic flows again", 10_000))
      expect(yield* spool.gate).toMatchObject({ state: "healthy", latches: 1 })
      expect(spool.lines.filter((line) => line.includes("health gate store"))).toEqual([
        "spool: health gate store latched: fatal: StoreFailed: database or disk is full (injected)",
        expect.stringMatching(/^spool: health gate store unlatched \(no new trouble for 500ms\) after \d/)
      ])
      yield* Effect.promise(() => traffic.stop())
      yield* Effect.promise(() =>
        until(() => traffic.accepted.every((id) => spool.sink.arrivals.has(id)), "every accepted message reached the sink")
      )
    })), 30_000)

  it.live("a store pushing back past the caller's deadline gets 429; past its own write timeout, 503", () =>
    Effect.scoped(Effect.gen(function*() {
      const spool = yield* spoolOverAdapter({ SPOOL_MAX_PENDING: "1", SPOOL_WRITE_TIMEOUT: "150 millis" })
      const agent = yield* Effect.acquireRelease(Effect.sync(() => keepAlive(8)), (agent) => Effect.sync(() => agent.destroy()))
      spool.control.slow = 300
      const message = { to: "ada@example.org", body: "hello" }
      const answers = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 6 }, () => post(agent, spool.ingest, message, { "x-deadline-ms": "50" })))
      )
      // One waits for the slow commit (past its deadline: 429); the others find the store busy until theirs.
      expect(answers.filter((answer) => answer.status === 429).length).toBeGreaterThanOrEqual(5)
      const busy = answers.find((answer) => answer.status === 429)!
      expect(busy.headers["retry-after"]).toBe("1")
      expect(JSON.parse(busy.body).error).toMatch(/^the store is busy: busy past the caller's deadline/)
      const slow = yield* Effect.promise(() => post(agent, spool.ingest, message))
      expect(slow.status).toBe(503)
      expect(JSON.parse(slow.body).error).toMatch(/^the store is too slow: no success within the operation's timeout of 150ms/)
      expect((yield* spool.gate)?.state).toBe("suspect")
      spool.control.slow = 0
    })), 30_000)
})
