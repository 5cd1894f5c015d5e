/**
 * A smoke run of the load script: it runs, and every accepted message is
 * delivered. The figures themselves come from `npm run spool:load`.
 */
import { describe, expect, it } from "@effect/vitest"
import { join } from "node:path"
import { run } from "../../packages/node/test/process.ts"

describe("npm run spool:load", () => {
  it("the load script runs (a short smoke run; the figures are npm run spool:load's)", async () => {
    const program = run(join(import.meta.dirname, "load.ts"), ["--quick"])
    expect(await program.exited(120_000)).toBe(0)
    expect(program.output()).toMatch(/baseline +\d+ msg\/s +p50 +[\d.]+ ms +p99/)
    expect(program.output()).toMatch(/durable +\d+ msg\/s/)
    expect(program.output()).toContain("every accepted message reached the sink")
  }, 150_000)
})
