import { describe, expect, it } from "@effect/vitest"
import { Errors, RestartIntensity, System, Toplevel } from "@arbor/core"
import { Cause, Duration, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { eventually, flat, launch, Probe, shutdown } from "./helpers.ts"

const crashNTimes = (probe: Probe, name: string, n: number, gap: Duration.Input = 0) =>
  Effect.gen(function*() {
    for (let i = 1; i <= n; i++) {
      yield* eventually(() => probe.startsOf(name) === i, `${name} start ${i}`)
      if (i > 1) yield* TestClock.adjust(gap)
      yield* probe.crash(name)
    }
  })

describe("RestartIntensity.record", () => {
  const intensity = { maxRestarts: 2, within: Duration.seconds(10) }

  it("allows maxRestarts restarts within the window and rejects one more", () => {
    let window: RestartIntensity.Window = []
    const verdicts = [0, 1000, 2000].map((now) => {
      const result = RestartIntensity.record(intensity, window, now)
      window = result.window
      return result.exceeded
    })
    expect(verdicts).toEqual([false, false, true])
  })

  it("forgets restarts once they are `within` old", () => {
    const result = RestartIntensity.record(intensity, [0, 5000], 10_000)
    expect(result).toEqual({ window: [5000, 10_000], exceeded: false })
  })

  it("with maxRestarts 0, the first restart is one too many", () => {
    expect(RestartIntensity.record({ maxRestarts: 0, within: Duration.seconds(1) }, [], 0).exceeded).toBe(true)
  })
})

describe("restart intensity", () => {
  it.effect("allows maxRestarts restarts within the window", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["crashy"]), { intensity: { maxRestarts: 3, within: "5 seconds" } })
      const run = yield* launch(toplevel)
      yield* crashNTimes(probe, "crashy", 3)
      yield* eventually(() => probe.startsOf("crashy") === 4, "restarted three times")
      expect(run.pollUnsafe()).toBeUndefined()
      yield* shutdown(toplevel, run)
    }))

  it.effect("one restart too many within the window stops everything and fails start() with TooManyRestarts", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make(
        "app",
        System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("steady", probe.worker("steady"))
            yield* scope.child("crashy", probe.worker("crashy"))
          })
        ),
        { intensity: { maxRestarts: 3, within: "5 seconds" } }
      )
      const run = yield* launch(toplevel)
      yield* crashNTimes(probe, "crashy", 4, "1 second")
      const exit = yield* Fiber.await(run)
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Cause.squash((exit as Exit.Failure<void, Errors.ToplevelError>).cause) as Errors.TooManyRestarts
      expect(error).toBeInstanceOf(Errors.TooManyRestarts)
      expect(error.path).toBe("app")
      expect(error.child).toBe("app/crashy")
      expect(error.maxRestarts).toBe(3)
      expect(error.message).toBe("app: more than 3 restarts within 5s; last: app/crashy: Error: crashy crashed")
      expect(Cause.pretty(error.cause)).toContain("crashy crashed")
      // Everything was stopped, the steady child last.
      expect(probe.journal.slice(-2)).toEqual(["settle steady", "exit steady normal"])
      expect(probe.startsOf("crashy")).toBe(4)
    }))

  it.effect("crashes spaced wider than the window never escalate", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["crashy"]), { intensity: { maxRestarts: 1, within: "1 second" } })
      const run = yield* launch(toplevel)
      yield* crashNTimes(probe, "crashy", 20, "1001 millis")
      yield* eventually(() => probe.startsOf("crashy") === 21, "restarted 20 times")
      expect(run.pollUnsafe()).toBeUndefined()
      yield* shutdown(toplevel, run)
    }))

  it.effect("a restart exactly `within` after another no longer counts it", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["crashy"]), { intensity: { maxRestarts: 1, within: "1 second" } })
      const run = yield* launch(toplevel)
      yield* crashNTimes(probe, "crashy", 3, "1 second")
      yield* eventually(() => probe.startsOf("crashy") === 4, "restarted")
      yield* shutdown(toplevel, run)
    }))

  it.effect("with maxRestarts 0 the first crash escalates", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["crashy"]), { intensity: { maxRestarts: 0, within: "1 second" } })
      const run = yield* launch(toplevel)
      yield* crashNTimes(probe, "crashy", 1)
      const exit = yield* Fiber.await(run)
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toBeInstanceOf(Errors.TooManyRestarts)
      expect(probe.startsOf("crashy")).toBe(1)
    }))

  it.effect("a subsystem restarting within its intensity leaves its parent's other children untouched", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("before", probe.worker("before"))
          yield* scope.system("sub", flat(probe, ["sub/x", "sub/crashy"]))
          yield* scope.child("after", probe.worker("after"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("after") === 1, "started")
      yield* crashNTimes(probe, "sub/crashy", 2)
      yield* eventually(() => probe.startsOf("sub/crashy") === 3, "sub restarted twice")
      expect(probe.startsOf("sub/x")).toBe(3)
      expect(probe.startsOf("before")).toBe(1)
      expect(probe.startsOf("after")).toBe(1)
      yield* shutdown(toplevel, run)
    }))

  it.effect("a subsystem that escalates is restarted by its parent as a failed child", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("sibling", probe.worker("sibling"))
          yield* scope.system("sub", flat(probe, ["sub/crashy"]), { intensity: { maxRestarts: 1, within: "1 minute" } })
        })
      ))
      const run = yield* launch(toplevel)
      yield* crashNTimes(probe, "sub/crashy", 2)
      // The sub gave up; the parent restarted (one_for_all): the sibling and the sub start again.
      yield* eventually(() => probe.startsOf("sub/crashy") === 3, "sub started again by its parent")
      expect(probe.startsOf("sibling")).toBe(2)
      expect(run.pollUnsafe()).toBeUndefined()
      yield* shutdown(toplevel, run)
    }))

  it.effect("escalation climbs to the top: start() fails with the root's TooManyRestarts, caused by the subsystem's", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make(
        "app",
        System.make((scope) => scope.system("sub", flat(probe, ["sub/crashy"]), { intensity: { maxRestarts: 0, within: "1 minute" } })),
        { intensity: { maxRestarts: 1, within: "1 minute" } }
      )
      const run = yield* launch(toplevel)
      yield* crashNTimes(probe, "sub/crashy", 2)
      const exit = yield* Fiber.await(run)
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      expect(error).toBeInstanceOf(Errors.TooManyRestarts)
      const top = error as Errors.TooManyRestarts
      expect(top.path).toBe("app")
      expect(top.child).toBe("app/sub")
      const inner = Cause.squash(top.cause) as Errors.TooManyRestarts
      expect(inner).toBeInstanceOf(Errors.TooManyRestarts)
      expect(inner.path).toBe("app/sub")
      expect(inner.child).toBe("app/sub/crashy")
    }))

  it.effect("a system's intensity counts its own restarts only", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make(
        "app",
        System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.system("left", flat(probe, ["left/crashy"]), { intensity: { maxRestarts: 2, within: "1 minute" } })
            yield* scope.system("right", flat(probe, ["right/crashy"]), { intensity: { maxRestarts: 2, within: "1 minute" } })
          })
        ),
        { intensity: { maxRestarts: 0, within: "1 minute" } }
      )
      const run = yield* launch(toplevel)
      yield* crashNTimes(probe, "left/crashy", 2)
      yield* crashNTimes(probe, "right/crashy", 2)
      yield* eventually(() => probe.startsOf("right/crashy") === 3, "right restarted twice")
      expect(run.pollUnsafe()).toBeUndefined()
      yield* shutdown(toplevel, run)
    }))
})
