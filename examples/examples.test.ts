/**
 * Smoke tests: each example runs as a real process, the way a user runs it.
 */
import { TreeSnapshot } from "@arbor/core"
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { run } from "../packages/node/test/process.ts"

const example = (name: string) => fileURLToPath(new URL(`./${name}/main.ts`, import.meta.url))

/** The output after `marker`, to check what happened once it was printed. */
const after = (output: string, marker: string) => output.slice(output.indexOf(marker))

describe("examples/hello", () => {
  it("greets, stops by itself after ~600 ms and terminates normally", async () => {
    const program = run(example("hello"))
    expect(await program.exited()).toBe(0)
    const output = program.output()
    expect(output).toContain("Received: Hello\n")
    expect(output).toContain("Received: from\n")
    expect(output).toContain("Received: Arbor\n")
    expect(output.trimEnd().endsWith("normal app termination")).toBe(true)
  })

  it("stops gracefully on Ctrl-C", async () => {
    const program = run(example("hello"))
    await program.waitFor("Received: Hello")
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(0)
    expect(program.output()).toContain("normal app termination")
  })
})

describe("examples/crashy", () => {
  it("under heavy chaos it keeps running: crashes, restarts with backoff, escalations absorbed; one line per event; Ctrl-C exits 0", async () => {
    // A charge fails half the time (the default is 4 %): `payments` gives up every few seconds.
    const program = run(example("crashy"), [], { CRASHY_SEED: "7", CRASHY_FAILURE_RATE: "0.5", ARBOR_OBSERVER_PORT: "0" })
    await program.waitFor(/observer listening on http:\/\/127\.0\.0\.1:\d+/)
    const url = /observer listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(program.output())![1]!
    await program.waitFor("shop/payments/gateway: exited abnormally (failure); restarting (permanent) — Error: payment provider timed out")
    await program.waitFor(/shop\/payments: restarting all children \(one_for_all\) after a backoff of 400ms; 2 restarts in the last 10s, at most 3 allowed/)
    await program.waitFor("shop/payments: more than 3 restarts within 10s")
    // The shop absorbs each escalation, its restarts spaced by a backoff that grows, so that it never reaches its
    // limit (packages/core/test/backoff.test.ts checks that under TestClock over ten minutes of failures).
    await program.waitFor("shop: restarting shop/payments (one_for_one) after a backoff of 2s; 1 restart in the last 1m, at most 6 allowed")
    await program.waitFor("shop: restarting shop/payments (one_for_one) after a backoff of 4s; 2 restarts in the last 1m, at most 6 allowed", 60_000)
    expect(program.child.exitCode).toBeNull()
    const readyz = await fetch(`${url}/readyz`)
    expect([readyz.status, await readyz.json()]).toEqual([200, { status: "ready", tree: "running" }])
    const tree = Schema.decodeUnknownSync(TreeSnapshot.TreeSnapshot)(await (await fetch(`${url}/tree`)).json())
    expect(tree.root.children?.map((child) => child.path)).toEqual(["shop/provider", "shop/books", "shop/payments", "shop/reporter"])
    expect(tree.root.children?.[2]?.restarts).toBeGreaterThanOrEqual(1)
    expect(tree.root.children?.[2]?.lastExit?.message).toMatch(/^TooManyRestarts: shop\/payments: more than 3 restarts within 10s/)
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(0)
    const output = program.output()
    expect(after(output, "shop: shutdown requested")).toContain("shop: shutdown complete")
    // Readable at the default level: every line is one log entry (no stack traces, no annotation lines), the
    // signal notice too.
    const lines = output.split("\n").filter((line) => line !== "")
    expect(lines.filter((line) => !/^\d\d:\d\d:\d\d\.\d{3} (INFO |WARN |ERROR) \S/.test(line))).toEqual([])
    await expect(fetch(`${url}/healthz`)).rejects.toThrow()
  }, 120_000)

  it("with its observer's port taken, ends at once with exit code 1 and says which port is in use", async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve))
    const port = (taken.address() as AddressInfo).port
    try {
      const program = run(example("crashy"), [], { ARBOR_OBSERVER_PORT: String(port) })
      expect(await program.exited()).toBe(1)
      const last = program.output().trimEnd().split("\n").at(-1)
      expect(last).toContain(`shop: terminated abnormally: ListenFailed: 127.0.0.1:${port} is in use; set the observer's port option`)
      expect(program.output()).not.toContain("shop/provider")
    } finally {
      taken.close()
    }
  })
})

describe("examples/jobs", () => {
  it("retries failed jobs in the pool after their backoff, then shuts itself down when the dispatcher is done", async () => {
    const program = run(example("jobs"))
    expect(await program.exited()).toBe(0)
    const output = program.output()
    expect(output).toContain("thumbnails/workers: restarting thumbnails/workers/4 after a backoff of 100ms")
    expect(output).toContain("job 4: thumbnail written (attempt 2)")
    const end = after(output, "all 12 of 12 thumbnails done (12 written)")
    expect(end).toContain("significant child thumbnails/dispatcher finished; shutting down (autoShutdown: anySignificant)")
    expect(end).toContain("thumbnails: shutdown complete")
  })
})

describe("examples/workers", () => {
  it("heals a stalled worker while the main thread and the other worker carry on, then stops with nothing left behind", async () => {
    const program = run(example("workers"))
    expect(await program.exited()).toBe(0)
    const output = program.output()
    expect(output).toMatch(/imaging\/renderer\/workers\/[01]: worker event loop stalled for \d+ ms \(threshold 1s\); terminated\n\s+at traceReflections \(file:\/\/\/.*jobs\.ts:\d+:\d+\)/)
    expect(output).toContain("job 4 (mirror-maze) failed: the worker stalled and was terminated")
    expect(output).toMatch(/imaging\/renderer\/workers: restarting imaging\/renderer\/workers\/[01]; 1 restart in the last 5s, at most 3 allowed/)
    // After the first stall: the main thread still serves and the pool still renders the second round (jobs 7-12).
    const healed = after(output, "worker event loop stalled")
    expect(healed).toContain("main thread: still serving")
    expect(healed).toMatch(/job (7|8|9|11|12): \w+: \d+ rays traced/)
    expect(output).toContain("imaging/cache: cache: flushed, bye")
    expect(output).toContain("imaging: shutdown complete")
    const pid = Number(/cache runs as pid (\d+)/.exec(output)![1])
    expect(() => process.kill(pid, 0)).toThrow()
  })
})
