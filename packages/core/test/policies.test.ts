import { describe, expect, it } from "@effect/vitest"
import { ChildExit, RestartPolicy, System, Toplevel } from "@arbor/core"
import { Effect, Exit, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import { eventually, launch, Probe, quiesce, shutdown } from "./helpers.ts"

const exits: ReadonlyArray<ChildExit.ExitKind> = ["normal", "failure", "defect", "interrupted"]
const policies: ReadonlyArray<RestartPolicy.RestartPolicy> = ["permanent", "transient", "temporary"]

// OTP's table, written out: does a child with this policy restart after an exit of this kind?
const expected: Record<RestartPolicy.RestartPolicy, Record<ChildExit.ExitKind, boolean>> = {
  permanent: { normal: true, failure: true, defect: true, interrupted: true },
  transient: { normal: false, failure: true, defect: true, interrupted: true },
  temporary: { normal: false, failure: false, defect: false, interrupted: false }
}

const endWith = (probe: Probe, name: string, kind: ChildExit.ExitKind) => {
  switch (kind) {
    case "normal":
      return probe.end(name, Exit.void)
    case "failure":
      return probe.end(name, Exit.fail(new Error("failed")))
    case "defect":
      return probe.end(name, Exit.die(new Error("bug")))
    case "interrupted":
      return probe.interrupt(name)
  }
}

describe("restart policies", () => {
  for (const policy of policies) {
    for (const kind of exits) {
      const restarts = expected[policy][kind]
      it.effect(`a ${policy} child that exits ${kind === "interrupted" ? "by an outside interruption" : `with ${kind}`} is ${restarts ? "" : "not "}restarted`, () =>
        Effect.gen(function*() {
          const probe = new Probe()
          const toplevel = Toplevel.make("app", System.make((scope) =>
            Effect.gen(function*() {
              yield* scope.child("sibling", probe.worker("sibling"))
              yield* scope.child("target", probe.worker("target"), { restart: policy })
            })
          ))
          const run = yield* launch(toplevel)
          yield* eventually(() => probe.startsOf("target") === 1, "started")
          yield* endWith(probe, "target", kind)
          if (restarts) {
            // one_for_all: the sibling is stopped and started again too.
            yield* eventually(() => probe.startsOf("target") === 2, "target restarted")
            expect(probe.startsOf("sibling")).toBe(2)
          } else {
            yield* quiesce
            expect(probe.startsOf("target")).toBe(1)
            expect(probe.startsOf("sibling")).toBe(1)
          }
          yield* shutdown(toplevel, run)
        }))
    }
  }

  it("restartsAfter is OTP's decision table", () => {
    for (const policy of policies) {
      for (const kind of exits) expect(RestartPolicy.restartsAfter(policy, kind)).toBe(expected[policy][kind])
    }
  })

  it.effect("a temporary child is not started again when a sibling's failure restarts the system", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          const temp = yield* scope.child("temp", probe.worker("temp", { value: 42 }), { restart: "temporary" })
          yield* probe.record(`temp value ${Option.getOrElse(Option.map(temp, String), () => "none")}`)
          yield* scope.child("crashy", probe.worker("crashy"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      yield* probe.crash("crashy")
      yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
      expect(probe.journal).toEqual([
        "start temp",
        "temp value 42",
        "start crashy",
        "exit crashy failure",
        "settle temp",
        "exit temp normal",
        "temp value none",
        "start crashy"
      ])
      yield* shutdown(toplevel, run)
    }))

  it.effect("a transient child that finished normally is skipped on a replay; one still running is restarted", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          const done = yield* scope.child("done", probe.worker("done", { value: "d" }), { restart: "transient" })
          const running = yield* scope.child("running", probe.worker("running", { value: "r" }), { restart: "transient" })
          yield* probe.record(`values ${Option.getOrElse(done, () => "-")} ${Option.getOrElse(running, () => "-")}`)
          yield* scope.child("crashy", probe.worker("crashy"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      yield* probe.end("done", Exit.void)
      yield* probe.crash("crashy")
      yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
      expect(probe.entries("values")).toEqual(["values d r", "values - r"])
      expect(probe.startsOf("done")).toBe(1)
      expect(probe.startsOf("running")).toBe(2)
      yield* shutdown(toplevel, run)
    }))

  it.effect("a restart stops the children like a shutdown: reverse order, settle, interrupt after each budget", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("b", probe.worker("b", { settles: false }), { shutdown: "2 seconds" })
          yield* scope.child("c", probe.worker("c"))
          yield* scope.child("crashy", probe.worker("crashy"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      probe.clear()
      yield* probe.crash("crashy")
      yield* eventually(() => probe.journal.includes("settle b"), "b asked to settle")
      yield* TestClock.adjust("1999 millis")
      expect(probe.journal).toEqual(["exit crashy failure", "settle c", "exit c normal", "settle b"])
      yield* TestClock.adjust("1 millis")
      yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
      expect(probe.journal).toEqual([
        "exit crashy failure",
        "settle c",
        "exit c normal",
        "settle b",
        "exit b interrupted",
        "settle a",
        "exit a normal",
        "start a",
        "start b",
        "start c",
        "start crashy"
      ])
      toplevel.shutdownToken.signal()
      yield* eventually(() => probe.journal.filter((e) => e === "settle b").length === 2, "b asked again")
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(run)
    }))

  it.effect("a child that crashes while the system is still starting triggers a restart", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      let first = true
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("early", probe.worker("early"))
          yield* scope.child("slow", probe.worker("slow", {
            setup: Effect.suspend(() => first ? (first = false, Effect.never) : Effect.void)
          }))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("slow") === 1, "slow starting")
      yield* probe.crash("early")
      yield* eventually(() => probe.startsOf("slow") === 2 && probe.startsOf("early") === 2, "restarted")
      yield* shutdown(toplevel, run)
    }))
})
