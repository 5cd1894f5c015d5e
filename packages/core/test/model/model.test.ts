import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { commands, tree } from "./arbitraries.ts"
import type { CaseStats } from "./harness.ts"
import { runCase } from "./harness.ts"
import { Model } from "./model.ts"
import type { Strategy, SystemSpec } from "./spec.ts"

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

describe("the reference model itself follows docs/restarts.md", () => {
  const abcd = (strategy: Strategy): SystemSpec => ({
    kind: "system",
    name: "app",
    policy: "permanent",
    shutdown: "infinity",
    significant: false,
    strategy,
    maxRestarts: 3,
    within: 5000,
    backoff: undefined,
    autoShutdown: "never",
    children: ["a", "b", "c", "d"].map((name) => ({ kind: "worker", name, policy: "permanent", shutdown: 100, significant: false }))
  })

  const crashB = (strategy: Strategy) => {
    const model = new Model(abcd(strategy))
    model.start()
    model.kernel.drain()
    model.journal.length = 0
    model.crashWorker("app/b", "failure")
    model.kernel.drain()
    return model.journal
  }

  it("one_for_all: stops d, c, a in reverse order and starts a, b, c, d", () => {
    expect(crashB("one_for_all")).toEqual([
      "exit app/b failure",
      "settle app/d", "exit app/d normal", "settle app/c", "exit app/c normal", "settle app/a", "exit app/a normal",
      "declare app", "start app/a", "start app/b", "start app/c", "start app/d"
    ])
  })

  it("rest_for_one: stops d, c and starts b, c, d; a is reused", () => {
    expect(crashB("rest_for_one")).toEqual([
      "exit app/b failure",
      "settle app/d", "exit app/d normal", "settle app/c", "exit app/c normal",
      "declare app", "start app/b", "start app/c", "start app/d"
    ])
  })

  it("one_for_one: starts b again, alone", () => {
    expect(crashB("one_for_one")).toEqual(["exit app/b failure", "start app/b"])
  })

  it("the intensity window slides: a restart made exactly `within` ago no longer counts", () => {
    const model = new Model({ ...abcd("one_for_one"), maxRestarts: 1, within: 1000 })
    model.start()
    model.kernel.drain()
    model.crashWorker("app/a", "failure")
    model.kernel.drain()
    model.kernel.advance(1000)
    model.crashWorker("app/a", "failure")
    model.kernel.drain()
    expect(model.escalations).toEqual([])
    model.crashWorker("app/a", "failure")
    model.kernel.drain()
    expect(model.escalations).toEqual(["app TooManyRestarts"])
    expect(model.outcome).toEqual({ kind: "failure", error: { tag: "TooManyRestarts", path: "app" } })
  })
})
