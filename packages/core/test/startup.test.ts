import { describe, expect, it } from "@effect/vitest"
import { Errors, Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { Cause, Effect, Exit, Fiber, Option, Queue, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { eventually, flat, launch, Probe, quiesce, shutdown } from "./helpers.ts"

const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isNone(error)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return error.value
}

describe("startup", () => {
  it.effect("starts children one at a time, in declaration order", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b", "c"]))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("c") === 1, "c started")
      expect(probe.entries("start")).toEqual(["start a", "start b", "start c"])
      yield* shutdown(toplevel, run)
    }))

  it.effect("waits for each startup to finish before starting the next child", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const slow = probe.worker("slow", { setup: Effect.sleep("1 second") })
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("slow", slow)
          yield* scope.child("next", probe.worker("next"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* quiesce
      expect(probe.entries("start")).toEqual(["start slow"])
      yield* TestClock.adjust("999 millis")
      expect(probe.entries("start")).toEqual(["start slow"])
      yield* TestClock.adjust("1 millis")
      yield* eventually(() => probe.startsOf("next") === 1, "next started")
      expect(probe.entries("start")).toEqual(["start slow", "start next"])
      yield* shutdown(toplevel, run)
    }))

  it.effect("hands each child's value to the children declared after it", () =>
    Effect.gen(function*() {
      const received: Array<string> = []
      const receiver = Effect.gen(function*() {
        const inbox = yield* Queue.unbounded<string>()
        const drain = Effect.forever(Effect.flatMap(Queue.take(inbox), (m) => Effect.sync(() => received.push(m))))
        return yield* MainLoop.spawn(Effect.raceFirst(drain, Lifecycle.settling), inbox)
      })
      const sender = (inbox: Queue.Queue<string>) => MainLoop.spawn(Queue.offerAll(inbox, ["Hello", "from", "Arbor"]).pipe(Effect.andThen(Lifecycle.settling)))
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          const inbox = yield* scope.child("receiver", receiver)
          yield* scope.child("sender", sender(inbox))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => received.length === 3, "messages received")
      expect(received).toEqual(["Hello", "from", "Arbor"])
      yield* shutdown(toplevel, run)
    }))

  it.effect("a startup failure on the first start stops the started children in reverse order and fails with StartupFailed", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("b", probe.worker("b"))
          yield* scope.child("c", Effect.fail(new Error("no database")))
          yield* scope.child("d", probe.worker("d"))
        })
      ))
      const exit = yield* Effect.exit(toplevel.start())
      const error = failure(exit)
      expect(error).toBeInstanceOf(Errors.StartupFailed)
      expect(error.path).toBe("app/c")
      expect((error as Errors.StartupFailed).message).toBe("app/c: startup failed: Error: no database")
      expect(probe.journal).toEqual(["start a", "start b", "settle b", "exit b normal", "settle a", "exit a normal"])
    }))

  it.effect("a startup failure deep in the tree reaches the top with the failing child's path", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const inner = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("ok", probe.worker("inner/ok"))
          yield* scope.child("broken", Effect.die(new Error("bug in setup")))
        })
      )
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("first", probe.worker("first"))
          yield* scope.system("inner", inner)
        })
      ))
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.StartupFailed)
      expect(error.path).toBe("app/inner/broken")
      expect(Cause.hasDies((error as Errors.StartupFailed).cause)).toBe(true)
      expect(probe.journal).toEqual([
        "start first",
        "start inner/ok",
        "settle inner/ok",
        "exit inner/ok normal",
        "settle first",
        "exit first normal"
      ])
    }))

  it.effect("a failure in start itself is a startup failure of the system", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          return yield* Effect.fail("config missing")
        })
      ))
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.StartupFailed)
      expect(error.path).toBe("app")
      expect(probe.journal).toEqual(["start a", "settle a", "exit a normal"])
    }))

  it.effect("a failing startup during a restart counts toward intensity and ends in escalation, not a busy loop", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      let attempts = 0
      const flaky = Effect.suspend(() => ++attempts === 1 ? probe.worker("flaky") : Effect.fail(new Error("cannot reconnect")))
      const toplevel = Toplevel.make(
        "app",
        System.make((scope) => scope.child("flaky", flaky).pipe(Effect.asVoid)),
        { intensity: { maxRestarts: 2, within: "1 minute" } }
      )
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("flaky") === 1, "flaky started")
      yield* probe.crash("flaky")
      const error = failure(yield* Fiber.await(run))
      expect(error).toBeInstanceOf(Errors.TooManyRestarts)
      expect(error.path).toBe("app")
      // Restart 1 follows the crash, restart 2 the first failed replay; the second failed replay is one too many.
      expect(attempts).toBe(3)
      const tooMany = error as Errors.TooManyRestarts
      expect(tooMany.child).toBe("app/flaky")
      expect(Cause.pretty(tooMany.cause)).toContain("cannot reconnect")
    }))

  it.effect("a startup that takes longer than startTimeout fails with StartupTimeout at exactly that time", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("stuck", Effect.never, { startTimeout: "2 seconds" })
        })
      ))
      const run = yield* launch(toplevel)
      yield* TestClock.adjust("1999 millis")
      expect(run.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const error = failure(yield* Fiber.await(run))
      expect(error).toBeInstanceOf(Errors.StartupFailed)
      expect(error.path).toBe("app/stuck")
      expect((error as Errors.StartupFailed).message).toBe(
        "app/stuck: startup failed: StartupTimeout: app/stuck: startup did not complete within 2s"
      )
      expect(probe.journal).toEqual(["start a", "settle a", "exit a normal"])
    }))
})

describe("validation", () => {
  it.effect("rejects a negative budget when the child is declared, naming its path, after stopping earlier siblings", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("b", probe.worker("b"), { shutdown: -5 })
        })
      ))
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.InvalidOptions)
      expect(error.path).toBe("app/b")
      expect(error.message).toContain("a positive, finite duration")
      expect(error.message).toContain("shutdown")
      expect(probe.journal).toEqual(["start a", "settle a", "exit a normal"])
    }))

  it.effect.each([
    [{ shutdown: 0 }, "must be \"brutal\", \"infinity\" or a positive, finite duration"],
    [{ shutdown: "forever" }, "\"brutal\", \"infinity\" or a positive, finite duration"],
    [{ startTimeout: "-1 seconds" }, "must be a positive, finite duration"],
    [{ restart: "always" }, "Expected \"permanent\" | \"transient\" | \"temporary\""],
    [{ shutdwn: "1 second" }, "shutdwn"]
  ] as const)("rejects child options %j", ([options, message]) =>
    Effect.gen(function*() {
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("x", MainLoop.spawn(Effect.never), options as never).pipe(Effect.asVoid)
      ))
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.InvalidOptions)
      expect(error.path).toBe("app/x")
      expect(error.message).toContain(message)
    }))

  it.effect.each([
    [{ intensity: { maxRestarts: 3, within: 0 } }, "must be a positive, finite duration"],
    [{ intensity: { maxRestarts: -1, within: "5 seconds" } }, "maxRestarts"],
    [{ intensity: { maxRestarts: 1.5, within: "5 seconds" } }, "maxRestarts"],
    [{ strategy: "all_for_one" }, "strategy"]
  ] as const)("rejects toplevel options %j before starting anything", ([options, message]) =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]), options as never)
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.InvalidOptions)
      expect(error.path).toBe("app")
      expect(error.message).toContain(message)
      expect(probe.journal).toEqual([])
    }))

  it.effect("rejects a subsystem's own options when it is declared", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.system("sub", flat(probe, ["never-started"]), { intensity: { maxRestarts: 3, within: "0 seconds" } })
        })
      ))
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.InvalidOptions)
      expect(error.path).toBe("app/sub")
      expect(probe.journal).toEqual(["start a", "settle a", "exit a normal"])
    }))

  it.effect("rejects a duplicate child name with DuplicateChild", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("worker", probe.worker("first"))
          yield* scope.child("worker", probe.worker("second"))
        })
      ))
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.DuplicateChild)
      expect(error.path).toBe("app/worker")
      expect(probe.journal).toEqual(["start first", "settle first", "exit first normal"])
    }))

  it.effect.each(["", "a/b"])("rejects the child name %j", (name) =>
    Effect.gen(function*() {
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child(name, MainLoop.spawn(Effect.never)).pipe(Effect.asVoid)))
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.InvalidOptions)
      expect(error.message).toContain("name")
    }))

  it.effect("a toplevel runs once", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]))
      toplevel.shutdownToken.signal()
      yield* toplevel.start()
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.AlreadyStarted)
    }))

  it.effect("a start that throws instead of returning an Effect is a startup failure", () =>
    Effect.gen(function*() {
      const toplevel = Toplevel.make("app", System.make<never>(() => {
        throw new Error("forgot to return an effect")
      }))
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.StartupFailed)
      expect(error.path).toBe("app")
      expect(error.message).toContain("forgot to return an effect")
    }))

  it.effect("declaring a child after start returned is a defect, not a silent extra child", () =>
    Effect.gen(function*() {
      let saved: System.Scope | undefined
      const toplevel = Toplevel.make("app", System.make((scope) => Effect.sync(() => void (saved = scope))))
      const run = yield* launch(toplevel)
      yield* quiesce
      const exit = yield* Effect.exit(saved!.child("late", MainLoop.spawn(Effect.never)))
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      expect(Cause.pretty((exit as Exit.Failure<unknown, unknown>).cause)).toContain("app/late: declared after app's start returned")
      yield* shutdown(toplevel, run)
    }))

  it.effect("catching a declaration's failure in start does not let start carry on", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("bad", Effect.fail("nope")).pipe(Effect.catchCause(() => Effect.void))
          yield* scope.child("after", probe.worker("after"))
        })
      ))
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error.path).toBe("app/bad")
      expect(probe.journal).toEqual([])
    }))
})

describe("bad input reaching the engine gets a typed error naming the path, once", () => {
  const declaring = (declare: (scope: System.Scope) => Effect.Effect<unknown>, probe: Probe) =>
    Toplevel.make("app", System.make((scope) =>
      Effect.gen(function*() {
        yield* scope.child("a", probe.worker("a"))
        yield* declare(scope)
      })
    ))

  it.effect.each([
    ["a number", 42, "expected an Effect that returns a MainLoop, got 42"],
    ["a function", () => MainLoop.spawn(Effect.never), "expected an Effect that returns a MainLoop, got a function"],
    ["a promise", Promise.resolve(1), "expected an Effect that returns a MainLoop, got a Promise"]
  ] as const)("a startup that is %s, not an Effect, is InvalidOptions when declared", ([, startup, message]) =>
    Effect.gen(function*() {
      const probe = new Probe()
      const error = failure(
        yield* Effect.exit(declaring((scope) => scope.child("x", startup as unknown as Effect.Effect<MainLoop.MainLoop<void>>), probe).start())
      )
      expect(error).toMatchObject({ _tag: "InvalidOptions", path: "app/x", issue: message })
      expect(probe.journal).toEqual(["start a", "settle a", "exit a normal"])
    }))

  const notAMainLoop = new Errors.InvalidOptions({
    path: "app/x",
    issue: "the startup returned 42, not a MainLoop: end it with MainLoop.spawn, MainLoop.run or MainLoop.make"
  })

  it.effect("a startup that returns something other than a MainLoop fails once, its InvalidOptions the cause, not a restart loop", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      let runs = 0
      const startup = Effect.sync(() => ++runs).pipe(Effect.as(42))
      const toplevel = declaring((scope) => scope.child("x", startup as unknown as Effect.Effect<MainLoop.MainLoop<void>>), probe)
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error).toBeInstanceOf(Errors.StartupFailed)
      expect(error.path).toBe("app/x")
      expect(Cause.squash((error as Errors.StartupFailed).cause as Cause.Cause<unknown>)).toEqual(notAMainLoop)
      expect(error.message).toBe(`app/x: startup failed: InvalidOptions: ${notAMainLoop.message}`)
      expect(runs).toBe(1)
      expect(probe.journal).toEqual(["start a", "settle a", "exit a normal"])
    }))

  it.effect("a restarted startup that returns no MainLoop counts toward intensity and escalates", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const broken = Effect.suspend(() => probe.startsOf("x") === 0 ? probe.worker("x") : Effect.succeed(undefined))
      const toplevel = Toplevel.make(
        "app",
        System.make((scope) => scope.child("x", broken as unknown as Effect.Effect<MainLoop.MainLoop<void>>).pipe(Effect.asVoid)),
        { strategy: "one_for_one", intensity: { maxRestarts: 2, within: "1 minute" }, backoff: Schedule.spaced("1 second") }
      )
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("x") === 1, "started")
      yield* probe.crash("x")
      yield* TestClock.adjust("10 seconds")
      const error = failure(yield* Fiber.await(run))
      expect(error).toBeInstanceOf(Errors.TooManyRestarts)
      expect(Cause.pretty((error as Errors.TooManyRestarts).cause as Cause.Cause<unknown>)).toContain("not a MainLoop")
    }))

  it.effect.each([
    ["an object", {}, "expected a System (a class extending System.System, or System.make(...)), got an object"],
    ["undefined", undefined, "expected a System (a class extending System.System, or System.make(...)), got undefined"]
  ] as const)("a subsystem that is %s, not a System, is InvalidOptions when declared", ([, system, message]) =>
    Effect.gen(function*() {
      const probe = new Probe()
      const error = failure(yield* Effect.exit(declaring((scope) => scope.system("sub", system as unknown as System.System<never>), probe).start()))
      expect(error).toMatchObject({ _tag: "InvalidOptions", path: "app/sub", issue: message })
      expect(probe.journal).toEqual(["start a", "settle a", "exit a normal"])
    }))

  it.effect("a toplevel of something that is not a System fails to start with InvalidOptions", () =>
    Effect.gen(function*() {
      const error = failure(yield* Effect.exit(Toplevel.make("app", { start: 1 } as unknown as System.System<never>).start()))
      expect(error).toMatchObject({
        _tag: "InvalidOptions",
        path: "app",
        issue: "expected a System (a class extending System.System, or System.make(...)), got an object"
      })
    }))

  it.effect("a start that returns something other than an Effect is InvalidOptions", () =>
    Effect.gen(function*() {
      const error = failure(yield* Effect.exit(Toplevel.make("app", System.make(() => undefined as unknown as Effect.Effect<void>)).start()))
      expect(error).toMatchObject({ _tag: "InvalidOptions", path: "app", issue: "start returned undefined, not an Effect" })
    }))

  it.effect("a pool refuses a startup or task that is not an Effect, and a startup that returns no MainLoop", () =>
    Effect.gen(function*() {
      const pools: Array<import("@arbor/core").Pool.Pool> = []
      const toplevel = Toplevel.make("app", System.make((scope) => Effect.map(scope.pool("jobs"), (pool) => void pools.push(pool))))
      const run = yield* launch(toplevel)
      yield* eventually(() => pools.length === 1, "pool started")
      const pool = pools[0]!
      const notAnEffect = 42 as unknown as Effect.Effect<MainLoop.MainLoop<void>>
      expect(yield* Effect.flip(pool.spawn(notAnEffect, { name: "n" }))).toEqual(
        new Errors.InvalidOptions({ path: "app/jobs/n", issue: "expected an Effect that returns a MainLoop, got 42" })
      )
      expect(yield* Effect.flip(pool.run("work" as unknown as Effect.Effect<void>))).toMatchObject({ _tag: "InvalidOptions", path: "app/jobs/1" })
      const returned42 = yield* Effect.flip(pool.spawn(Effect.succeed(42) as unknown as Effect.Effect<MainLoop.MainLoop<void>>))
      expect(returned42).toBeInstanceOf(Errors.StartupFailed)
      expect(returned42.message).toContain("the startup returned 42, not a MainLoop")
      expect(yield* pool.size).toBe(0)
      yield* shutdown(toplevel, run)
    }))

  it.effect("a negative shutdown budget gets one clear message", () =>
    Effect.gen(function*() {
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("x", MainLoop.spawn(Effect.never), { shutdown: "-1 seconds" }).pipe(Effect.asVoid)
      ))
      const error = failure(yield* Effect.exit(toplevel.start()))
      expect(error.message).toBe("app/x: invalid options: must be \"brutal\", \"infinity\" or a positive, finite duration\n  at [\"shutdown\"]")
    }))
})
