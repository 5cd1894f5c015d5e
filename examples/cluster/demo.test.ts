/**
 * `npm run example:cluster -- --once` as a user runs it: three runners on an
 * embedded store, the owner killed with SIGKILL, another takes over.
 */
import { describe, expect, it } from "@effect/vitest"
import { fileURLToPath } from "node:url"
import { run } from "../../packages/node/test/process.ts"

describe("examples/cluster (npm run example:cluster)", () => {
  it("three runners; kill -9 of the one running the ledger; another takes it over with a new fencing token", async () => {
    const demo = run(fileURLToPath(new URL("./demo.ts", import.meta.url)), ["--once"])
    expect(await demo.exited(60_000)).toBe(0)
    const output = demo.output()
    expect(output).toMatch(/\[demo\] +three runners share .*cluster\.db; lease 3 seconds/)
    expect(output).toMatch(/ledger: owned by 127\.0\.0\.1:\d+ with fencing token 1; starting the tree/)
    expect(output).toMatch(/\[demo\] +the ledger runs on runner \d: kill -9 \d+/)
    expect(output).toMatch(/ledger: owned by 127\.0\.0\.1:\d+ with fencing token \d+ from 127\.0\.0\.1:\d+ after \d+ ms without an owner/)
    expect(output).toMatch(/\[demo\] +runner \d took the ledger over \d+ ms after the kill/)
    expect(output.trimEnd().endsWith("done")).toBe(true)
  }, 90_000)
})
