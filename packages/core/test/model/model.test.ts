import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { commands, tree } from "./arbitraries.ts"
import type { CaseStats } from "./harness.ts"
import { runCase } from "./harness.ts"

/** `npm run test:deep` sets ARBOR_MODEL_RUNS=20000. */
const runs = Number(process.env["ARBOR_MODEL_RUNS"] ?? 1000)
const seed = process.env["ARBOR_MODEL_SEED"] === undefined ? undefined : Number(process.env["ARBOR_MODEL_SEED"])

describe("model-based: a random tree under random commands behaves as the reference model says", () => {
  it(`agrees with the model after every command (${runs} cases)`, { timeout: Math.max(120_000, runs * 150) }, async () => {
    const stats: CaseStats = { steps: 0, skipped: 0 }
    await fc.assert(
      fc.asyncProperty(tree, commands, async (spec, cmds) => {
        await Effect.runPromise(runCase(spec, cmds, stats))
      }),
      { numRuns: runs, ...(seed === undefined ? {} : { seed }) }
    )
    // Most commands must run: a generator whose commands were all skipped would prove nothing.
    expect(stats.skipped / stats.steps).toBeLessThan(0.5)
  })
})
