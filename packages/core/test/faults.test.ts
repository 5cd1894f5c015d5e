/**
 * Fault injection: children that misbehave in every way the issue lists. Each
 * test states the documented behaviour (docs/shutdown.md "When children
 * misbehave", docs/restarts.md, docs/concepts.md) and checks it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Errors, Lifecycle, MainLoop, Metrics, System, Toplevel } from "@arbor/core"
import { Cause, Effect, Exit, Fiber, Metric, Scope } from "effect"
import { TestClock } from "effect/testing"
import { eventually, launch, Probe, quiesce, shutdown, withCapturedLogs } from "./helpers.ts"

/** A fiber body that records a tick every second, for as long as it runs. */
const ticker = (probe: Probe, label: string) => Effect.forever(Effect.andThen(Effect.sleep("1 second"), probe.record(`tick ${label}`)))
const ticks = (probe: Probe, label: string) => probe.journal.filter((e) => e === `tick ${label}`).length

describe("a child whose finalizer fails", () => {
  it.effect("is logged with its path and cause; its supervisor carries on: the restart and the shutdown proceed in order", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const bad = Effect.andThen(
          Effect.acquireRelease(Effect.void, () => Effect.andThen(probe.record("release bad"), Effect.die(new Error("release failed")))),
          probe.worker("bad")
        )
        const toplevel = Toplevel.make("app", System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("older", probe.worker("older"))
            yield* scope.child("bad", bad)
          })
        ))
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("bad") === 1, "started")
        probe.clear()
        yield* probe.crash("bad")
        yield* eventually(() => probe.startsOf("bad") === 2, "restarted")
        expect(probe.journal).toEqual(["exit bad failure", "release bad", "settle older", "exit older normal", "start older", "start bad"])
        probe.clear()
        yield* shutdown(toplevel, run)
        expect(probe.journal).toEqual(["settle bad", "exit bad normal", "release bad", "settle older", "exit older normal"])
        const errors = lines.filter((line) => line.level === "Error" && line.path === "app/bad")
        expect(errors.map((line) => line.text)).toEqual([
          "app/bad: a finalizer failed while its scope closed",
          "app/bad: a finalizer failed while its scope closed"
        ])
        expect(errors[0]?.cause).toContain("release failed")
      })
    ))
})

describe("a child that dies while settling", () => {
  it.effect("in a shutdown: logged as an abnormal exit while stopping, not restarted; its older siblings settle next", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const dies = MainLoop.spawn(Effect.andThen(Lifecycle.settling, Effect.die(new Error("died while settling"))))
        const toplevel = Toplevel.make("app", System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("older", probe.worker("older"))
            yield* scope.child("dies", dies)
          })
        ))
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("older") === 1, "started")
        yield* shutdown(toplevel, run)
        expect(probe.journal).toEqual(["start older", "settle older", "exit older normal"])
        const warning = lines.find((line) => line.level === "Warn" && line.path === "app/dies")
        expect(warning?.text).toBe("app/dies: exited abnormally (defect) while stopping")
        expect(warning?.cause).toContain("died while settling")
      })
    ))

  it.effect("as a bystander of a restart: the restart proceeds and starts it again with its group, counted once", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const dies = (name: string) =>
        Effect.andThen(probe.record(`start ${name}`), MainLoop.spawn(Effect.andThen(Lifecycle.settling, Effect.die(new Error(`${name} died`)))))
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("older", probe.worker("older"))
          yield* scope.child("dies", dies("dies"))
          yield* scope.child("crashy", probe.worker("crashy"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      probe.clear()
      yield* probe.crash("crashy")
      yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
      yield* quiesce
      expect(probe.journal).toEqual(["exit crashy failure", "settle older", "exit older normal", "start older", "start dies", "start crashy"])
      expect((yield* toplevel.whichChildren("app")).map((c) => [c.name, c.state, c.restarts])).toEqual([
        ["older", "running", 1],
        ["dies", "running", 1],
        ["crashy", "running", 1]
      ])
      // One restart of the system, not two: the bystander's death is part of the restart, not a crash of its own.
      yield* shutdown(toplevel, run)
    }))
})

describe("a child that hangs in its startup", () => {
  it.effect("without startTimeout: its system waits, starting; a shutdown interrupts it at once and stops the older ones", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("older", probe.worker("older"))
          yield* scope.child("hangs", Effect.andThen(probe.record("start hangs"), Effect.never), { shutdown: "1 minute" })
          yield* scope.child("never", probe.worker("never"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* quiesce
      yield* TestClock.adjust("1 hour")
      expect((yield* toplevel.whichChildren("app")).map((c) => [c.name, c.state])).toEqual([["older", "running"], ["hangs", "starting"]])
      expect((yield* toplevel.snapshot).root.state).toBe("starting")
      yield* shutdown(toplevel, run)
      expect(probe.journal).toEqual(["start older", "start hangs", "settle older", "exit older normal"])
    }))

  it.effect("with startTimeout on the first start: the system fails with StartupFailed caused by StartupTimeout", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("older", probe.worker("older"))
          yield* scope.child("hangs", Effect.never, { startTimeout: "3 seconds" })
        })
      ))
      const run = yield* launch(toplevel)
      yield* quiesce
      yield* TestClock.adjust("2999 millis")
      expect(run.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(run))
      expect(error).toBeInstanceOf(Errors.StartupFailed)
      expect(error.path).toBe("app/hangs")
      expect(Cause.squash((error as Errors.StartupFailed).cause)).toBeInstanceOf(Errors.StartupTimeout)
      expect(probe.journal).toEqual(["start older", "settle older", "exit older normal"])
    }))

  it.effect("with startTimeout during a restart: each timeout counts toward the intensity, then the system escalates", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      let attempts = 0
      const sometimes = Effect.suspend(() => ++attempts === 1 ? probe.worker("flaky") : Effect.andThen(probe.record("hang"), Effect.never))
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child("flaky", sometimes, { startTimeout: "1 second" }).pipe(Effect.asVoid)), {
        intensity: { maxRestarts: 2, within: "1 minute" }
      })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("flaky") === 1, "started")
      yield* probe.crash("flaky")
      for (let i = 0; i < 3; i++) {
        yield* quiesce
        yield* TestClock.adjust("1 second")
      }
      const error = yield* Effect.flip(Fiber.join(run))
      expect(error).toBeInstanceOf(Errors.TooManyRestarts)
      expect(probe.journal.filter((e) => e === "hang")).toHaveLength(2)
    }))
})

describe("a child that ignores settling", () => {
  it.effect("is interrupted when its budget runs out: warned, counted, and the shutdown takes exactly that budget", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const toplevel = Toplevel.make("app", System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("older", probe.worker("older"))
            yield* scope.child("stubborn", probe.worker("stubborn", { settles: false }), { shutdown: "4 seconds" })
          })
        ))
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("stubborn") === 1, "started")
        toplevel.shutdownToken.signal()
        yield* quiesce
        yield* TestClock.adjust("3999 millis")
        expect(probe.journal).toEqual(["start older", "start stubborn", "settle stubborn"])
        yield* TestClock.adjust("1 millis")
        expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
        expect(probe.journal.slice(3)).toEqual(["exit stubborn interrupted", "settle older", "exit older normal"])
        expect(lines.find((line) => line.level === "Warn" && line.path === "app/stubborn")?.text).toBe(
          "app/stubborn: did not settle within 4s; interrupting"
        )
        expect((yield* Metric.value(Metric.withAttributes(Metrics.shutdownForced, { path: "app" }))).count).toBe(1)
      })
    ).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})

describe("a subsystem that runs out of budget while its child ignores settling", () => {
  it.effect("is interrupted, and the child it was waiting for is interrupted too and its scope closed: its finalizers run", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const stubborn = Effect.andThen(
        Effect.acquireRelease(Effect.void, () => probe.record("release stubborn")),
        probe.worker("stubborn", { settles: false })
      )
      const inner = System.make((scope) => Effect.asVoid(scope.child("stubborn", stubborn, { shutdown: "1 minute" })))
      const toplevel = Toplevel.make("app", System.make((scope) => Effect.asVoid(scope.system("inner", inner, { shutdown: "1 second" }))))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("stubborn") === 1, "started")
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* TestClock.adjust("1 second")
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
      expect(probe.journal).toEqual(["start stubborn", "settle stubborn", "exit stubborn interrupted", "release stubborn"])
    }))
})

describe("a child in an uninterruptible region longer than its budget", () => {
  it.effect("is interrupted at the budget, but the stop waits until the region ends (it cannot be bounded)", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const critical = MainLoop.spawn(
        Effect.andThen(Lifecycle.settling, Effect.uninterruptible(Effect.andThen(Effect.sleep("10 seconds"), probe.record("region done"))))
      )
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("older", probe.worker("older"))
          yield* scope.child("critical", critical, { shutdown: "1 second" })
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("older") === 1, "started")
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* TestClock.adjust("9 seconds")
      expect(run.pollUnsafe()).toBeUndefined()
      expect(probe.journal).toEqual(["start older"])
      yield* TestClock.adjust("1 second")
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
      expect(probe.journal).toEqual(["start older", "region done", "settle older", "exit older normal"])
    }))
})

describe("fibers that try to outlive their child", () => {
  const forker = (probe: Probe, fork: (body: Effect.Effect<never>) => Effect.Effect<unknown, never, MainLoop.SpawnContext>) =>
    Toplevel.make("app", System.make((scope) =>
      Effect.gen(function*() {
        yield* scope.child("forker", Effect.andThen(fork(ticker(probe, "forked")), probe.worker("forker")))
        yield* scope.child("crashy", probe.worker("crashy"))
      })
    ))

  const stopsWithTheChild = (fork: (body: Effect.Effect<never>) => Effect.Effect<unknown, never, MainLoop.SpawnContext>) =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = forker(probe, fork)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      yield* TestClock.adjust("2 seconds")
      expect(ticks(probe, "forked")).toBe(2)
      // A restart stops the incarnation that forked it: one ticker afterwards, not two.
      yield* probe.crash("crashy")
      yield* eventually(() => probe.startsOf("forker") === 2, "restarted")
      yield* TestClock.adjust("2 seconds")
      expect(ticks(probe, "forked")).toBe(4)
      yield* shutdown(toplevel, run)
      yield* TestClock.adjust("10 seconds")
      expect(ticks(probe, "forked")).toBe(4)
    })

  it.effect("forkChild in the startup function: interrupted when the child stops", () =>
    stopsWithTheChild((body) => Effect.forkChild(body)))

  it.effect("forkScoped: interrupted when the child's scope closes", () =>
    stopsWithTheChild((body) => Effect.forkScoped(body)))

  it.effect("forkIn the child's scope: interrupted when the child's scope closes", () =>
    stopsWithTheChild((body) =>
      Effect.gen(function*() {
        const scope = yield* Scope.Scope
        return yield* Effect.forkIn(body, scope)
      })
    ))

  it.effect("forkChild that is uninterruptible until it checks: it is waited for, then gone", () =>
    stopsWithTheChild((body) => Effect.forkChild(Effect.uninterruptibleMask((restore) => restore(body)))))

  it.effect("forkDetach opts out of supervision by definition: it outlives its child (and is the user's to stop)", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      let detached: Fiber.Fiber<never> | undefined
      const toplevel = forker(probe, (body) => Effect.map(Effect.forkDetach(body), (fiber) => detached = fiber))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      yield* shutdown(toplevel, run)
      yield* TestClock.adjust("3 seconds")
      expect(ticks(probe, "forked")).toBe(3)
      yield* Fiber.interrupt(detached!)
    }))
})

describe("a MainLoop.fromPromise body that throws after its signal aborted", () => {
  it.effect("is a failure, logged while stopping; the shutdown proceeds and start() succeeds", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const body = MainLoop.fromPromise(async (signal) => {
          await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()))
          throw new Error("cleanup after abort failed")
        })
        const toplevel = Toplevel.make("app", System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("older", probe.worker("older"))
            yield* scope.child("promise", body)
          })
        ))
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("older") === 1, "started")
        toplevel.shutdownToken.signal()
        const exit = yield* Fiber.await(run)
        expect(Exit.isSuccess(exit)).toBe(true)
        const warning = lines.find((line) => line.level === "Warn" && line.path === "app/promise")
        expect(warning?.text).toBe("app/promise: exited abnormally (failure) while stopping")
        expect(warning?.cause).toContain("cleanup after abort failed")
        expect(probe.journal).toEqual(["start older", "settle older", "exit older normal"])
      })
    ))

  it.effect("rejecting with the abort reason after the abort is a normal exit: nothing is logged as abnormal", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const body = MainLoop.fromPromise((signal) =>
          new Promise<void>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)))
        )
        const toplevel = Toplevel.make("app", System.make((scope) => scope.child("promise", body).pipe(Effect.asVoid)))
        const run = yield* launch(toplevel)
        yield* quiesce
        toplevel.shutdownToken.signal()
        expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
        expect(lines.filter((line) => line.level === "Warn")).toEqual([])
      })
    ))
})

describe("a child that fails in the middle of a group restart", () => {
  it.effect("one_for_all: the children started again are stopped in reverse order and the whole group retried", () =>
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
      const toplevel = Toplevel.make("app", tree)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("c") === 1, "started")
      probe.clear()
      yield* probe.crash("a")
      yield* eventually(() => probe.startsOf("c") === 3, "c started at last")
      expect(probe.journal).toEqual([
        "exit a failure",
        "settle c",
        "exit c normal",
        "settle b",
        "exit b normal",
        "start a",
        "start b",
        "start c",
        "settle b",
        "exit b normal",
        "settle a",
        "exit a normal",
        "start a",
        "start b",
        "start c"
      ])
      // The crash and the failed startup: two restarts of the system.
      expect((yield* toplevel.whichChildren("app")).map((c) => c.restarts)).toEqual([2, 2, 2])
      yield* shutdown(toplevel, run)
    }))

  it.effect("a child that can never start again ends in escalation, not a busy loop", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const broken = Effect.suspend(() => probe.startsOf("c") >= 2 ? Effect.fail("broken for good") : Effect.void)
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("c", probe.worker("c", { setup: broken }))
        })
      )
      const toplevel = Toplevel.make("app", tree, { intensity: { maxRestarts: 3, within: "1 minute" } })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("c") === 1, "started")
      yield* probe.crash("c")
      const error = yield* Effect.flip(Fiber.join(run))
      expect(error).toBeInstanceOf(Errors.TooManyRestarts)
      expect(probe.startsOf("c")).toBe(4)
      expect(probe.journal.slice(-2)).toEqual(["settle a", "exit a normal"])
    }))

  it.effect("an older sibling that crashes while a younger one settles is started again with the group, not restarted twice", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("slow", probe.worker("slow", { settles: false }), { shutdown: "5 seconds" })
          yield* scope.child("crashy", probe.worker("crashy"))
        })
      )
      const toplevel = Toplevel.make("app", tree, { intensity: { maxRestarts: 1, within: "1 minute" } })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      probe.clear()
      yield* probe.crash("crashy")
      yield* eventually(() => probe.journal.includes("settle slow"), "slow settling")
      yield* probe.crash("a")
      yield* TestClock.adjust("5 seconds")
      yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
      yield* quiesce
      expect(probe.journal).toEqual([
        "exit crashy failure",
        "settle slow",
        "exit a failure",
        "exit slow interrupted",
        "start a",
        "start slow",
        "start crashy"
      ])
      // One restart within an intensity of 1: the system did not give up.
      expect(run.pollUnsafe()).toBeUndefined()
      toplevel.shutdownToken.signal()
      yield* TestClock.adjust("5 seconds")
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
    }))
})
