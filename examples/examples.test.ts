/**
 * Smoke tests: each example runs as a real process, the way a user runs it.
 */
import { TreeSnapshot } from "@arbor/core"
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
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
  it("restarts the gateway, escalates the payments subsystem to the shop, and stops cleanly on Ctrl-C", async () => {
    // Port 0: a free port, so that parallel runs do not collide.
    const program = run(example("crashy"), [], { CRASHY_SEED: "2", ARBOR_OBSERVER_PORT: "0" })
    await program.waitFor(/observer listening on http:\/\/127\.0\.0\.1:\d+/)
    await program.waitFor("shop/payments/gateway: exited abnormally (failure); restarting (permanent)")
    await program.waitFor("shop/payments: restarting all children")
    await program.waitFor("shop/payments: more than 2 restarts within 10s")
    await program.waitFor(/shop: restarting all children[^\n]*restart 1 of at most 8/)
    await program.waitFor("shop/api: started")
    // The observer it printed serves the tree it runs.
    const url = /observer listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(program.output())![1]!
    const tree = Schema.decodeUnknownSync(TreeSnapshot.TreeSnapshot)(await (await fetch(`${url}/tree`)).json())
    expect(tree.root.children?.map((child) => child.path)).toEqual(["shop/config", "shop/payments", "shop/api"])
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/arbor_child_restarts_total\{path="shop\/payments"\} [1-9]/)
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(0)
    // Logs go to stdout and the signal notice to stderr: only lines on one stream are ordered.
    const shutdown = after(program.output(), "shop: shutdown requested")
    const order = ["api: settling, bye", "gateway: settling, bye", "ledger: settling, bye", "shop/config: stopped", "shop: shutdown complete"]
      .map((line) => shutdown.indexOf(line))
    expect(order.every((position) => position > 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    await expect(fetch(`${url}/healthz`)).rejects.toThrow()
  })
})

describe("examples/jobs", () => {
  it("retries failed jobs in the pool after their backoff, then shuts itself down when the dispatcher is done", async () => {
    const program = run(example("jobs"))
    expect(await program.exited()).toBe(0)
    const output = program.output()
    expect(output).toContain("thumbnails/workers: restarting thumbnails/workers/4 after 100ms")
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
    expect(output).toMatch(/imaging\/renderer\/workers: restarting imaging\/renderer\/workers\/[01], restart 1 of at most 3/)
    // After the first stall: the main thread still serves and the pool still renders.
    const healed = after(output, "worker event loop stalled")
    expect(healed).toContain("main thread: still serving")
    expect(healed).toMatch(/job (11|12): \w+: \d+ rays traced/)
    expect(output).toContain("imaging/cache: cache: flushed, bye")
    expect(output).toContain("imaging: shutdown complete")
    const pid = Number(/cache runs as pid (\d+)/.exec(output)![1])
    expect(() => process.kill(pid, 0)).toThrow()
  })
})
