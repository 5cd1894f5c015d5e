/**
 * `npm run bench` keeps working: every case runs (at tiny sizes) and the JSON has the promised shape. Speed is
 * not asserted here; the benchmark itself reports it.
 */
import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { run } from "../packages/node/test/process.ts"

describe("npm run bench", () => {
  it("runs every case beside its floor and writes the results as JSON", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "arbor-bench-")), "results.json")
    const program = run(fileURLToPath(new URL("./main.ts", import.meta.url)), [], { BENCH_SMOKE: "1", BENCH_OUT: out }, ["--expose-gc"])
    // Generous: on a loaded machine the smoke run of every case, real workers and processes included, takes a while.
    expect(await program.exited(150_000)).toBe(0)
    const results = JSON.parse(readFileSync(out, "utf8")) as {
      node: string
      effect: string
      cases: Array<{ name: string; unit: string; arbor: { median: number }; floor: { median: number }; ratio: number; met: boolean }>
    }
    expect(results.node).toMatch(/^v2[4-9]\./)
    expect(results.effect).toMatch(/^4\./)
    expect(results.cases.map((entry) => entry.name)).toEqual([
      "start 1000 static",
      "start 1000 pool",
      "start 2000 static",
      "start 2000 pool",
      "memory per idle child (2000)",
      "restart latency (10 x 20 crashes)",
      "restart latency, 2000 idle siblings",
      "shutdown 2000 pool children",
      "churn: short-lived pool tasks",
      "churn, 16 callers waiting on 64 slots",
      "worker child start",
      "worker child restart",
      "process child start"
    ])
    for (const entry of results.cases) {
      expect(["us", "bytes", "ms", "per_s"]).toContain(entry.unit)
      expect(entry.arbor.median).toBeGreaterThan(0)
      expect(entry.floor.median).toBeGreaterThan(0)
      expect(Number.isFinite(entry.ratio)).toBe(true)
    }
    const output = program.output()
    expect(output).toContain("ratio")
    expect(output).toContain("not comparable with docs/performance.md")
    // The rows printed while the cases run line up under their header: the unit column starts at one place.
    const header = output.indexOf("\ncase ") + 1
    const progress = output.slice(header, output.indexOf("\n\n", header)).split("\n")
    expect(progress).toHaveLength(results.cases.length + 1)
    expect(new Set(progress.map((row) => /^.*?\S\s{2,}/.exec(row)![0].length)).size).toBe(1)
  }, 180_000)
})
