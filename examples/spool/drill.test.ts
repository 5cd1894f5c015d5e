/**
 * The fault drill as a test: real faults (a full tmpfs, an immutable WAL
 * file) under a real spool process. It needs root, as CI has.
 */
import { describe, expect, it } from "@effect/vitest"
import { join } from "node:path"
import { run } from "../../packages/node/test/process.ts"

describe("npm run spool:drill", () => {
  it("the fault drill breaks the store for real (ENOSPC, an unwritable WAL) and nothing accepted is lost", async () => {
    const program = run(join(import.meta.dirname, "drill.ts"))
    expect(await program.exited(120_000)).toBe(0)
    const output = program.output()
    expect(output).toContain("GET /readyz -> 503 {\"status\":\"not ready\",\"tree\":\"running\",\"reason\":\"health gate store latched: fatal: StoreFailed: database or disk is full\"")
    expect(output).toContain("\"reason\":\"health gate store latched: fatal: StoreFailed: disk I/O error\"")
    expect(output).toContain("metrics: arbor_health_gate_latched{gate=\"store\"} 1")
    expect(output).toMatch(/drill passed: \d+ messages accepted and delivered, none lost/)
  }, 150_000)
})
