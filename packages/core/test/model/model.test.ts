import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { writeFileSync } from "node:fs"
import { commands, tree } from "./arbitraries.ts"
import type { CaseStats } from "./harness.ts"
import { fits, runCase } from "./harness.ts"
import { regressions } from "./regressions.ts"
import type { Proc } from "./kernel.ts"
import { Kernel } from "./kernel.ts"
import { Model } from "./model.ts"
import type { Strategy, SystemSpec, WorkerSpec } from "./spec.ts"

/** `npm run test:deep` (scripts/deep.ts) sets ARBOR_MODEL_RUNS=20000 and a fresh ARBOR_MODEL_SEED, which it prints. */
const runs = Number(process.env["ARBOR_MODEL_RUNS"] ?? 1000)
const seed = Number(process.env["ARBOR_MODEL_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
/** Replays one case of the run: the path a failure prints. */
const path = process.env["ARBOR_MODEL_PATH"]

describe("model-based: a random tree under random commands behaves as the reference model says", () => {
  it(`agrees with the model after every command (${runs} cases, seed ${seed})`, { timeout: Math.max(120_000, runs * 150) }, async () => {
    const stats: CaseStats = { steps: 0, skipped: 0, undecided: 0, seen: new Map() }
    const details = await fc.check(
      fc.asyncProperty(tree, commands, async (spec, cmds) => {
        await Effect.runPromise(runCase(spec, cmds, stats))
      }),
      { numRuns: runs, seed, ...(path === undefined ? {} : { path, endOnFailure: true }) }
    )
    if (details.failed) {
      const replay = `ARBOR_MODEL_SEED=${details.seed} ARBOR_MODEL_RUNS=${runs}`
      throw new Error(
        `${fc.defaultReportMessage(details)}\n\n${String(details.errorInstance)}\n\n` +
          `Replay the run: ${replay} npm run test:deep\n` +
          `Replay the shrunk case alone: ${replay} ARBOR_MODEL_PATH="${details.counterexamplePath}" npm run test:deep\n` +
          "Then keep it as a fixed case in packages/core/test/model/regressions.ts."
      )
    }
    // ARBOR_MODEL_STATS=file: what the cases went through, to see that the generators reach the interesting states.
    const statsFile = process.env["ARBOR_MODEL_STATS"]
    if (statsFile !== undefined) writeFileSync(statsFile, JSON.stringify({ ...stats, seen: Object.fromEntries(stats.seen!) }, null, 1))
    // Most commands must run: a generator whose commands were all skipped would prove nothing.
    expect(stats.skipped / stats.steps).toBeLessThan(0.5)
    // And few cases may be cut short where the model cannot tell which of two timers fires first.
    expect(stats.undecided / runs).toBeLessThan(0.02)
  })
})

describe("cases the model-based runs found", () => {
  for (const regression of regressions) {
    it.effect(regression.name, () => runCase(regression.tree, regression.commands))
  }
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
    children: ["a", "b", "c", "d"].map((name) => ({
      kind: "worker",
      name,
      policy: "permanent",
      shutdown: 100,
      significant: false,
      startMillis: 0,
      startTimeout: undefined,
      deadline: undefined
    }))
  })

  const crashB = (strategy: Strategy) => {
    const model = new Model(abcd(strategy))
    model.start()
    model.kernel.drain()
    const from = model.journal.entries.length
    model.crashWorker("app/b", "failure")
    model.kernel.drain()
    return model.journal.entries.slice(from)
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

  it("the journal may reorder only entries that do not know of each other", () => {
    const model = new Model(abcd("one_for_all"))
    model.start()
    model.kernel.drain()
    const from = model.journal.entries.length
    model.crashWorker("app/b", "failure")
    model.kernel.drain()
    const journal = model.journal.entries.slice(from)
    const marks = model.journal.marks.slice(from)
    expect(fits(journal, marks, journal)).toBeUndefined()
    // The stops run one after the other, in reverse order: d before c is not negotiable.
    const swapped = [...journal]
    ;[swapped[1], swapped[3]] = [swapped[3]!, swapped[1]!]
    expect(fits(journal, marks, swapped)).toBe(1)
    expect(fits(journal, marks, journal.slice(0, -1))).toBe(journal.length - 1)

    // A subsystem restarted on its own, whose startup suspends (its child's does), starts concurrently with
    // whatever its parent does next.
    const [a, b] = abcd("one_for_all").children as ReadonlyArray<WorkerSpec>
    const spec: SystemSpec = {
      ...abcd("one_for_one"),
      children: [{ ...abcd("one_for_all"), name: "s", children: [{ ...a!, startMillis: 13 }] }, b!]
    }
    const concurrent = new Model(spec)
    concurrent.start()
    concurrent.kernel.drain()
    concurrent.kernel.advance(13)
    const start = concurrent.journal.entries.length
    concurrent.exitChild("app/s", "failure")
    concurrent.kernel.drain()
    concurrent.crashWorker("app/b", "failure")
    concurrent.kernel.drain()
    const restarts = concurrent.journal.entries.slice(start)
    expect(restarts).toEqual(["exit app/s/a interrupted", "declare app/s", "start app/s/a", "exit app/b failure", "start app/b"])
    const otherOrder = ["exit app/s/a interrupted", "exit app/b failure", "start app/b", "declare app/s", "start app/s/a"]
    expect(fits(restarts, concurrent.journal.marks.slice(start), otherOrder)).toBeUndefined()
    expect(fits(restarts, concurrent.journal.marks.slice(start), ["exit app/s/a interrupted", "exit app/b failure", "start app/s/a", "declare app/s", "start app/b"])).toBe(2)
  })

  it("the kernel says when two timers due at once were registered in an order that is not defined", () => {
    const kernel = new Kernel()
    const fired: Array<string> = []
    // One strand registers both: its order stands.
    kernel.timer(0, "setup", () => {
      kernel.timer(10, "a", () => fired.push("a"))
      kernel.timer(10, "b", () => fired.push("b"))
    })
    kernel.advance(20)
    expect([fired, kernel.undecided]).toEqual([["a", "b"], undefined])
    // Two strands that do not know of each other, in one cascade: which fires first is not defined.
    kernel.timer(0, "setup", () => {
      kernel.spawn((function*(): Proc {
        kernel.timer(10, "c", () => fired.push("c"))
      })())
      kernel.spawn((function*(): Proc {
        kernel.timer(10, "d", () => fired.push("d"))
      })())
    })
    kernel.advance(20)
    expect(kernel.undecided).toBe("c and d timers both due at 30ms")
  })

  it("the intensity window slides: a restart made exactly `within` ago no longer counts", () => {
    const model = new Model({ ...abcd("one_for_one"), maxRestarts: 1, within: 1000 })
    model.start()
    model.kernel.drain()
    model.crashWorker("app/a", "failure")
    model.kernel.advance(1000)
    model.crashWorker("app/a", "failure")
    model.kernel.drain()
    expect(model.escalations.entries).toEqual([])
    model.crashWorker("app/a", "failure")
    model.kernel.drain()
    expect(model.escalations.entries).toEqual(["app TooManyRestarts"])
    expect(model.outcome).toEqual({ kind: "failure", error: { tag: "TooManyRestarts", path: "app" } })
  })
})
