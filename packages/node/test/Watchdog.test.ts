import { afterAll, describe, expect, it } from "@effect/vitest"
import { Errors } from "@arbor/core"
import { Watchdog } from "@arbor/node"
import { Effect, Layer } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { jsonLine, run } from "./process.ts"

const fixture = fileURLToPath(new URL("./fixtures/stall.ts", import.meta.url))
const fixtureUrl = new URL("./fixtures/stall.ts", import.meta.url).href
const busyLine = readFileSync(fixture, "utf8").split("\n").findIndex((line) => line.includes("// the busy line")) + 1

interface Report {
  readonly type: string
  readonly stalledForMs: number
  readonly thresholdMs: number
  readonly stack: ReadonlyArray<{ functionName: string; url: string; line: number; column: number }>
  readonly stackUnavailable?: string
  readonly thread?: { state: string; wchan: string }
  readonly memory: { rss: number; heapUsed?: number }
  readonly cpu: { userMs: number; recentPercent: number }
  readonly snapshot: unknown
  readonly action: "log" | "exit"
  readonly signal?: string
  readonly note?: string
}

/** The watchdog's JSON lines in a program's output. */
const reports = (output: string): Array<Report> =>
  output.split("\n").filter((line) => line.startsWith("{\"type\":\"arbor.watchdog.stall\"")).map((line) => JSON.parse(line))

const releases = mkdtempSync(join(tmpdir(), "arbor-watchdog-release-"))
afterAll(() => rmSync(releases, { recursive: true, force: true }))

/** Runs the fixture in a mode whose busy loop lasts until `release()` (see fixtures/stall.ts). */
const runHeld = (args: ReadonlyArray<string>) => {
  const file = join(releases, String(Math.random()))
  return { program: run(fixture, args, { STALL_RELEASE: file }), release: () => writeFileSync(file, "") }
}

/** What the fixture's main thread heard, once free again. */
const stallEvents = (output: string): Array<{ stalledFor: number; stack: Report["stack"]; stackUnavailable?: string }> =>
  output.split("\n").filter((line) => line.startsWith("stall event: ")).map((line) => JSON.parse(line.slice(13)))

describe("Watchdog", () => {
  it("detects a busy loop and reports the function and line it is stuck on", async () => {
    const { program, release } = runHeld(["busy"])
    await program.waitFor(jsonLine("arbor.watchdog.stall"))
    release()
    expect(await program.exited()).toBe(0)
    const output = program.output()
    const [report, ...more] = reports(output)
    expect(more).toEqual([])
    expect(report!.stalledForMs).toBeGreaterThanOrEqual(1_000)
    expect(report!.stack[0], report!.stackUnavailable).toMatchObject({ functionName: "spinFor", url: fixtureUrl, line: busyLine })
    expect(report!.stack[1]?.functionName).toBe("plain")
    expect(report!.snapshot).toEqual({ app: "fixture", children: [{ name: "spinner", state: "running" }] })
    expect(report!.memory.rss).toBeGreaterThan(0)
    expect(report!.memory.heapUsed).toBeGreaterThan(0)
    if (process.platform === "linux") expect(report!.thread?.state).toBe("R")
    expect(report!.action).toBe("log")
    // The main thread hears of it once free: the whole stall, longer than the silence at detection.
    const [event] = stallEvents(output)
    expect(event!.stalledFor).toBeGreaterThan(report!.stalledForMs)
    expect(event!.stack[0]).toMatchObject({ functionName: "spinFor", line: busyLine })
    expect(output.indexOf("stall event")).toBeGreaterThan(output.indexOf("done"))
    expect(output).toContain("last stall: some")
  })

  it("detects a long JSON.parse and reports it without a JavaScript stack", async () => {
    const program = run(fixture, ["json"])
    expect(await program.exited()).toBe(0)
    const output = program.output()
    const [report, ...more] = reports(output)
    expect(more).toEqual([])
    expect(report!.stack).toEqual([])
    // What was observed first, then what may have caused it.
    expect(report!.stackUnavailable).toMatch(
      /^no JavaScript stack: the main thread did not answer the inspector within \d+ ms \(captureTimeout\)\. Possible causes: native code/
    )
    expect(output).toMatch(/parsed \d+ items/)
    const [event] = stallEvents(output)
    expect(event!.stack).toEqual([])
    expect(event!.stackUnavailable).toMatch(/^no JavaScript stack/)
  })

  it("records a CPU profile of the stalled main thread when asked to", async () => {
    const directory = mkdtempSync(join(tmpdir(), "arbor-watchdog-"))
    try {
      const { program, release } = runHeld(["profile", directory])
      await program.waitFor(jsonLine("arbor.watchdog.profile"))
      release()
      expect(await program.exited()).toBe(0)
      const summary = JSON.parse(jsonLine("arbor.watchdog.profile").exec(program.output())![0])
      expect(summary.path.startsWith(directory)).toBe(true)
      expect(summary.samples).toBeGreaterThan(0)
      const profile = JSON.parse(readFileSync(summary.path, "utf8"))
      expect(profile.nodes.length).toBeGreaterThan(0)
      expect(profile.samples.length).toBe(summary.samples)
      expect(stallEvents(program.output())[0]).toMatchObject({ profile: summary.path })
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  })

  it("feed() within a long expected job prevents a false alarm", async () => {
    const program = run(fixture, ["fed"])
    expect(await program.exited()).toBe(0)
    expect(program.output()).toContain("done")
    expect(reports(program.output())).toEqual([])
    expect(program.output()).toContain("last stall: none")
  })

  it("action \"exit\" ends a process stuck in an infinite loop with SIGKILL, after the report", async () => {
    const program = run(fixture, ["forever"])
    expect(await program.exited()).toBe("SIGKILL")
    const [report] = reports(program.output())
    expect(report).toMatchObject({ action: "exit", signal: "SIGKILL" })
    expect(report!.stack[0]?.functionName).toBe("plain")
  })

  it("action \"exit\" spares a main thread that recovers within exitAfter", async () => {
    const program = run(fixture, ["spared"])
    expect(await program.exited()).toBe(0)
    expect(reports(program.output())[0]).toMatchObject({ action: "exit", signal: "SIGKILL" })
    expect(program.output()).toContain("stall event")
  })

  it("action \"exit\": a main thread that recovered while the report was being made hears of the stall at once", async () => {
    const directory = mkdtempSync(join(tmpdir(), "arbor-watchdog-"))
    try {
      const { program, release } = runHeld(["recovered", directory])
      await program.waitFor(jsonLine("arbor.watchdog.stall"))
      // Free during the profile's window: no recovery is left for exitAfter (20 s) to wait for.
      release()
      expect(await program.exited()).toBe(0)
      expect(reports(program.output())[0]).toMatchObject({ action: "exit", signal: "SIGKILL", exitAfterMs: 20_000 })
      expect(program.output()).toContain("last stall: some")
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  })

  it("does not kill a process while a debugger may hold it (inspector active)", async () => {
    const program = run(fixture, ["forever"], { NODE_OPTIONS: "--inspect=127.0.0.1:0" })
    await program.waitFor("\"type\":\"arbor.watchdog.stall\"")
    expect(reports(program.output())[0]).toMatchObject({ action: "log", note: "not exiting: a debugger is attached" })
    expect(reports(program.output())[0]!.stackUnavailable).toMatch(/^not captured: the inspector is active/)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(program.child.exitCode).toBeNull()
    program.child.kill("SIGKILL")
    await program.exited()
  })

  it("an armed watchdog lets a finished program exit on its own", async () => {
    const program = run(fixture, ["idle"])
    await program.waitFor("done")
    const done = Date.now()
    expect(await program.exited(10_000)).toBe(0)
    // Its last timer is 500 ms; well before the default 5 s threshold: nothing waited for the watchdog.
    expect(Date.now() - done).toBeLessThan(4_000)
  })

  it("Watchdog.layer publishes each stall, counts it in the metrics and keeps the last one", async () => {
    const { program, release } = runHeld(["layer"])
    await program.waitFor(jsonLine("arbor.watchdog.stall"))
    release()
    expect(await program.exited()).toBe(0)
    const output = program.output()
    expect(stallEvents(output)[0]!.stack[0]).toMatchObject({ functionName: "spinFor", line: busyLine })
    expect(output).toContain("last stall: some; counted 1; histogram 1")
    expect(output).toMatch(/event loop stalled for .* at spinFor \(file:.*stall\.ts:\d+:\d+\)/)
  })

  describe("bad options are an InvalidOptions error at \"watchdog\"", () => {
    const rejected = (options: unknown) => {
      try {
        Watchdog.arm(options as Watchdog.Options)
      } catch (error) {
        expect(error).toBeInstanceOf(Errors.InvalidOptions)
        return error as Errors.InvalidOptions
      }
      throw new Error("accepted")
    }

    it("a heartbeat above half the threshold", () => {
      const error = rejected({ threshold: "5 seconds", heartbeat: "3 seconds" })
      expect(error.path).toBe("watchdog")
      expect(error.issue).toContain("must be at most half the threshold")
      expect(error.issue).toContain("[\"heartbeat\"]")
    })

    it("a negative threshold, an unknown action or signal, a misspelt key", () => {
      expect(rejected({ threshold: "-1 seconds" }).issue).toContain("[\"threshold\"]")
      expect(rejected({ threshold: "30 days" }).issue).toContain("must be at most 24 days")
      expect(rejected({ action: "restart" }).issue).toContain("[\"action\"]")
      expect(rejected({ action: "exit", signal: "SIGTERM" }).issue).toContain("[\"signal\"]")
      expect(rejected({ treshold: "1 second" }).issue).toContain("[\"treshold\"]")
      expect(rejected({ logTo: -1 }).issue).toContain("a file descriptor")
    })

    it("exit options without action \"exit\"", () => {
      expect(rejected({ exitAfter: "1 second" }).issue).toContain("only applies with action: \"exit\"")
    })

    it("a log file that cannot be opened", () => {
      expect(rejected({ logTo: "/nonexistent/dir/watchdog.log" }).issue).toContain("cannot open for appending")
    })

    it.effect("Watchdog.layer fails with it before arming anything", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Layer.build(Watchdog.layer({ heartbeat: 0 })))
        expect(error).toBeInstanceOf(Errors.InvalidOptions)
        expect(error.issue).toContain("[\"heartbeat\"]")
      }))
  })
})
