import { describe, expect, it } from "@effect/vitest"
import { Errors, MainLoop, System, Toplevel } from "@arbor/core"
import { Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { eventually, flat, launch, Probe, quiesce, shutdown } from "./helpers.ts"

/** Crashes `name` and checks that its next start waits exactly `millis`. */
const restartsAfter = (probe: Probe, name: string, millis: number) =>
  Effect.gen(function*() {
    const starts = probe.startsOf(name)
    yield* probe.crash(name)
    yield* quiesce
    if (millis > 1) {
      yield* TestClock.adjust(millis - 1)
      yield* quiesce
    }
    expect(probe.startsOf(name)).toBe(starts)
    yield* TestClock.adjust(1)
    yield* eventually(() => probe.startsOf(name) === starts + 1, `${name} restarted after ${millis} ms`)
  })

describe("restart backoff", () => {
  it.effect("waits each delay of the schedule before restarting", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]), {
        backoff: Schedule.exponential("1 second"),
        intensity: { maxRestarts: 10, within: "1 minute" }
      })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      yield* restartsAfter(probe, "b", 1000)
      yield* restartsAfter(probe, "b", 2000)
      yield* restartsAfter(probe, "b", 4000)
      expect(probe.startsOf("a")).toBe(4)
      yield* shutdown(toplevel, run)
    }))

  it.effect("a shutdown during the wait completes at once, without starting anything", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]), { backoff: Schedule.spaced("1 hour") })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      yield* probe.crash("b")
      yield* quiesce
      yield* shutdown(toplevel, run)
      expect([probe.startsOf("a"), probe.startsOf("b")]).toEqual([1, 1])
    }))

  it.effect("a subsystem waiting for its backoff shows as restarting", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("front", probe.worker("front"))
          yield* scope.system("workers", flat(probe, ["w"]), { backoff: Schedule.spaced("5 seconds") })
        })
      )
      const toplevel = Toplevel.make("app", tree)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("w") === 1, "started")
      const states = Effect.map(toplevel.whichChildren("app"), (children) => children.map((c) => `${c.name}:${c.state}`))
      expect(yield* states).toEqual(["front:running", "workers:running"])
      yield* probe.crash("w")
      yield* quiesce
      expect(yield* states).toEqual(["front:running", "workers:restarting"])
      expect((yield* toplevel.countChildren("app")).restarting).toBe(1)
      yield* TestClock.adjust("5 seconds")
      yield* eventually(() => probe.startsOf("w") === 2, "w restarted")
      expect(yield* states).toEqual(["front:running", "workers:running"])
      yield* shutdown(toplevel, run)
    }))

  it.effect("under one_for_one, the child waiting for its delay shows as restarting", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]), {
        strategy: "one_for_one",
        backoff: Schedule.spaced("3 seconds")
      })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      yield* probe.crash("a")
      yield* quiesce
      const children = yield* toplevel.whichChildren("app")
      expect(children.map((c) => `${c.name}:${c.state}`)).toEqual(["a:restarting", "b:running"])
      yield* TestClock.adjust("3 seconds")
      yield* eventually(() => probe.startsOf("a") === 2, "a restarted")
      expect((yield* toplevel.whichChildren("app"))[0]?.restarts).toBe(1)
      yield* shutdown(toplevel, run)
    }))

  it.effect("after resetAfter without a restart, the schedule starts over from its first delay", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]), {
        backoff: { schedule: Schedule.exponential("1 second"), resetAfter: "1 minute" },
        intensity: { maxRestarts: 10, within: "10 seconds" }
      })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("a") === 1, "started")
      yield* restartsAfter(probe, "a", 1000)
      yield* restartsAfter(probe, "a", 2000)
      yield* TestClock.adjust("30 seconds")
      yield* restartsAfter(probe, "a", 4000)
      yield* TestClock.adjust("1 minute")
      yield* restartsAfter(probe, "a", 1000)
      yield* shutdown(toplevel, run)
    }))

  it.effect("by default the schedule starts over once the intensity window holds no restart", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]), {
        backoff: Schedule.exponential("1 second"),
        intensity: { maxRestarts: 10, within: "20 seconds" }
      })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("a") === 1, "started")
      yield* restartsAfter(probe, "a", 1000)
      yield* restartsAfter(probe, "a", 2000)
      yield* TestClock.adjust("20 seconds")
      yield* restartsAfter(probe, "a", 1000)
      yield* shutdown(toplevel, run)
    }))

  it.effect("a restart that waited still counts toward intensity", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]), {
        backoff: Schedule.spaced("2 seconds"),
        intensity: { maxRestarts: 2, within: "10 seconds" }
      })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("a") === 1, "started")
      yield* restartsAfter(probe, "a", 2000)
      yield* restartsAfter(probe, "a", 2000)
      yield* probe.crash("a")
      const exit = yield* Fiber.await(run)
      expect(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" && exit.cause.reasons[0].error).toBeInstanceOf(
        Errors.TooManyRestarts
      )
    }))

  it.effect("a schedule that ends allows no more restarts: the system escalates with BackoffEnded", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]), {
        backoff: Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 2 })),
        intensity: { maxRestarts: 10, within: "1 minute" }
      })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("a") === 1, "started")
      yield* restartsAfter(probe, "a", 1000)
      yield* restartsAfter(probe, "a", 1000)
      yield* probe.crash("a")
      const exit = yield* Fiber.await(run)
      const error = Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error : undefined
      expect(error).toBeInstanceOf(Errors.BackoffEnded)
      expect(error).toMatchObject({ path: "app", child: "app/a", restarts: 2 })
    }))

  it.effect("rejects a backoff that is not a Schedule with InvalidOptions", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]), { backoff: "1 second" as never })
      const exit = yield* Effect.exit(toplevel.start())
      expect(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" && exit.cause.reasons[0].error).toBeInstanceOf(
        Errors.InvalidOptions
      )
      expect(probe.startsOf("a")).toBe(0)
    }))
})

describe("a backoff that spaces restarts beyond the intensity window", () => {
  it.effect("keeps a system under its intensity however often its child fails: it never gives up", () =>
    Effect.gen(function*() {
      // The flagship's shop: at most 6 restarts a minute, 2 s doubling to 30 s between them (at most 5 in a minute).
      let starts = 0
      const failsAtOnce = Effect.suspend(() => {
        starts++
        return MainLoop.run(Effect.fail(new Error("gives up again")))
      })
      const toplevel = Toplevel.make("shop", System.make((scope) => scope.child("payments", failsAtOnce)), {
        strategy: "one_for_one",
        intensity: { maxRestarts: 6, within: "1 minute" },
        backoff: Schedule.min([Schedule.exponential("2 seconds"), Schedule.spaced("30 seconds")])
      })
      const run = yield* launch(toplevel)
      for (let second = 0; second < 600; second++) {
        yield* TestClock.adjust("1 second")
        yield* quiesce
      }
      expect(run.pollUnsafe()).toBeUndefined()
      // 2 + 4 + 8 + 16 s, then every 30 s: 4 restarts in the first 30 s, then 19 more in the next 570 s.
      expect(starts).toBe(24)
      yield* shutdown(toplevel, run)
    }))
})
