import { it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { commands, tree } from "./arbitraries.ts"
import { runCase } from "./harness.ts"

it("debug", async () => {
  const samples = fc.sample(fc.tuple(tree, commands), { numRuns: 2000, seed: 7 })
  const stats = { steps: 0, skipped: 0, seen: new Map<string, number>() }
  for (const [spec, cmds] of samples) await Effect.runPromise(runCase(spec, cmds, stats))
  console.log(stats)
})
