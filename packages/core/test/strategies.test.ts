import { describe, expect, it } from "@effect/vitest"
import { Errors, System, Toplevel } from "@arbor/core"
import { Effect, Exit, Fiber, Option } from "effect"
import { eventually, launch, Probe, quiesce, shutdown } from "./helpers.ts"

/** A system of workers a, b, c, d (permanent) under `strategy`, recording the values each run of `start` got back. */
const abcd = (probe: Probe, strategy: System.SystemOptions["strategy"], received: Array<unknown> = []) => {
  const tree = System.make((scope) =>
    Effect.gen(function*() {
      for (const name of ["a", "b", "c", "d"]) {
        received.push(yield* scope.child(name, probe.worker(name, { value: `${name}#${probe.startsOf(name) + 1}` })))
      }
    })
  )
  return Toplevel.make("app", tree, { strategy: strategy ?? "one_for_all" })
}

describe("rest_for_one", () => {
  it.effect("stops the failed child and those after it in reverse order, then starts them again in order", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = abcd(probe, "rest_for_one")
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("d") === 1, "tree started")
      probe.clear()
      yield* probe.crash("b")
      yield* eventually(() => probe.startsOf("d") === 2, "d restarted")
      expect(probe.journal).toEqual([
        "exit b failure",
        "settle d",
        "exit d normal",
        "settle c",
        "exit c normal",
        "start b",
        "start c",
        "start d"
      ])
      yield* shutdown(toplevel, run)
    }))

  it.effect("reuses the children declared before it: same fiber, same value, not restarted", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const received: Array<unknown> = []
      const toplevel = abcd(probe, "rest_for_one", received)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("d") === 1, "tree started")
      const a = probe.mainOf("a")
      const b = probe.mainOf("b")
      yield* probe.crash("c")
      yield* eventually(() => probe.startsOf("d") === 2, "d restarted")
      expect(probe.mainOf("a")).toBe(a)
      expect(probe.mainOf("b")).toBe(b)
      expect(a?.pollUnsafe()).toBeUndefined()
      expect([probe.startsOf("a"), probe.startsOf("b"), probe.startsOf("c")]).toEqual([1, 1, 2])
      expect(received).toEqual(["a#1", "b#1", "c#1", "d#1", "a#1", "b#1", "c#2", "d#2"])
      yield* shutdown(toplevel, run)
    }))

  it.effect("the first child's failure restarts every child", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = abcd(probe, "rest_for_one")
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("d") === 1, "tree started")
      yield* probe.crash("a")
      yield* eventually(() => probe.startsOf("d") === 2, "d restarted")
      expect(["a", "b", "c", "d"].map((name) => probe.startsOf(name))).toEqual([2, 2, 2, 2])
      yield* shutdown(toplevel, run)
    }))

  it.effect("a later child failing to start during the restart stops the restarted ones and retries the group", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const failOnce = Effect.suspend(() => probe.startsOf("c") === 2 ? Effect.fail("c cannot start yet") : Effect.void)
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("b", probe.worker("b"))
          yield* scope.child("c", probe.worker("c", { setup: failOnce }))
        })
      )
      const toplevel = Toplevel.make("app", tree, { strategy: "rest_for_one" })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("c") === 1, "tree started")
      const a = probe.mainOf("a")
      probe.clear()
      yield* probe.crash("b")
      yield* eventually(() => probe.startsOf("c") === 3, "c started at last")
      expect(probe.journal).toEqual([
        "exit b failure",
        "settle c",
        "exit c normal",
        "start b",
        "start c",
        "settle b",
        "exit b normal",
        "start b",
        "start c"
      ])
      expect(probe.mainOf("a")).toBe(a)
      yield* shutdown(toplevel, run)
    }))
})

describe("one_for_one", () => {
  it.effect("restarts only the failed child, with the same startup function; siblings keep their fibers", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const received: Array<unknown> = []
      const toplevel = abcd(probe, "one_for_one", received)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("d") === 1, "tree started")
      const fibers = ["a", "c", "d"].map((name) => probe.mainOf(name))
      probe.clear()
      yield* probe.crash("b")
      yield* eventually(() => probe.startsOf("b") === 2, "b restarted")
      yield* quiesce
      expect(probe.journal).toEqual(["exit b failure", "start b"])
      expect(["a", "c", "d"].map((name) => probe.mainOf(name))).toEqual(fibers)
      // The restarted child's new value is not re-delivered: start does not run again.
      expect(received).toEqual(["a#1", "b#1", "c#1", "d#1"])
      yield* shutdown(toplevel, run)
    }))

  it.effect("restarts count toward intensity: one too many escalates", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("steady", probe.worker("steady"))
          yield* scope.child("crashy", probe.worker("crashy"))
        })
      )
      const toplevel = Toplevel.make("app", tree, { strategy: "one_for_one", intensity: { maxRestarts: 2, within: "1 minute" } })
      const run = yield* launch(toplevel)
      for (let i = 1; i <= 3; i++) {
        yield* eventually(() => probe.startsOf("crashy") === i, `crashy start ${i}`)
        yield* probe.crash("crashy")
      }
      const exit = yield* Fiber.await(run)
      expect(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" && exit.cause.reasons[0].error).toBeInstanceOf(
        Errors.TooManyRestarts
      )
      expect(probe.startsOf("steady")).toBe(1)
      expect(probe.entries("exit")).toContain("exit steady normal")
    }))

  it.effect("a restart whose startup fails is retried, counting toward intensity", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const failSecond = Effect.suspend(() => probe.startsOf("b") === 2 ? Effect.fail("not yet") : Effect.void)
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("b", probe.worker("b", { setup: failSecond }))
        })
      )
      const toplevel = Toplevel.make("app", tree, { strategy: "one_for_one", intensity: { maxRestarts: 2, within: "1 minute" } })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      yield* probe.crash("b")
      yield* eventually(() => probe.startsOf("b") === 3, "b started on the second try")
      yield* quiesce
      expect(run.pollUnsafe()).toBeUndefined()
      expect(probe.startsOf("a")).toBe(1)
      // A third restart is one too many: the failed startup counted.
      yield* probe.crash("b")
      const exit = yield* Fiber.await(run)
      expect(Exit.isFailure(exit)).toBe(true)
    }))
})

describe("temporary bystanders", () => {
  for (const strategy of ["one_for_all", "rest_for_one"] as const) {
    it.effect(`under ${strategy}, a temporary child stopped as a bystander is not restarted and the system survives`, () =>
      Effect.gen(function*() {
        const probe = new Probe()
        const seen: Array<Option.Option<void>> = []
        const tree = System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("a", probe.worker("a"))
            seen.push(yield* scope.child("temp", probe.worker("temp"), { restart: "temporary" }))
            yield* scope.child("b", probe.worker("b"))
          })
        )
        const toplevel = Toplevel.make("app", tree, { strategy })
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("b") === 1, "started")
        yield* probe.crash("a")
        yield* eventually(() => probe.startsOf("b") === 2, "b restarted")
        yield* quiesce
        expect(probe.startsOf("temp")).toBe(1)
        expect(probe.entries("exit")).toContain("exit temp normal")
        expect(seen.map(Option.isSome)).toEqual([true, false])
        expect(run.pollUnsafe()).toBeUndefined()
        yield* shutdown(toplevel, run)
      }))
  }
})

describe("group restarts", () => {
  // A later child failing to start during a one_for_all restart: faults.test.ts ("a child that fails in the middle of a group restart").

  it.effect("the retried group restart counts toward intensity", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const failOnce = Effect.suspend(() => probe.startsOf("b") === 2 ? Effect.fail("b cannot start yet") : Effect.void)
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("b", probe.worker("b", { setup: failOnce }))
        })
      )
      const toplevel = Toplevel.make("app", tree, { intensity: { maxRestarts: 1, within: "1 minute" } })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "tree started")
      yield* probe.crash("a")
      const exit = yield* Fiber.await(run)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(probe.startsOf("b")).toBe(2)
    }))
})
