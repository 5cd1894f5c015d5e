import { describe, expect, it } from "@effect/vitest"
import { Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { Duration, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { eventually, flat, launch, Probe, quiesce, shutdown } from "./helpers.ts"

describe("settle-then-interrupt shutdown", () => {
  it.effect("stops children in exact reverse start order, through nested subsystems", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.system("db", flat(probe, ["db/pool", "db/cache"]))
          yield* scope.child("b", probe.worker("b"))
          yield* scope.system("web", System.make((web) =>
            Effect.gen(function*() {
              yield* web.child("router", probe.worker("web/router"))
              yield* web.system("handlers", flat(probe, ["web/handlers/x", "web/handlers/y"]))
            })
          ))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("web/handlers/y") === 1, "tree started")
      expect(probe.entries("start")).toEqual([
        "start a",
        "start db/pool",
        "start db/cache",
        "start b",
        "start web/router",
        "start web/handlers/x",
        "start web/handlers/y"
      ])
      probe.clear()
      yield* shutdown(toplevel, run)
      expect(probe.entries("exit")).toEqual([
        "exit web/handlers/y normal",
        "exit web/handlers/x normal",
        "exit web/router normal",
        "exit b normal",
        "exit db/cache normal",
        "exit db/pool normal",
        "exit a normal"
      ])
    }))

  it.effect("stops one child at a time: the next is asked to settle only after the previous one stopped", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      // Each child takes 1 second to settle.
      const slowToSettle = (name: string) =>
        Effect.gen(function*() {
          yield* probe.record(`start ${name}`)
          return yield* MainLoop.spawn(Lifecycle.settling.pipe(
            Effect.andThen(probe.record(`settle ${name}`)),
            Effect.andThen(Effect.sleep("1 second")),
            Effect.andThen(probe.record(`done ${name}`))
          ))
        })
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", slowToSettle("a"))
          yield* scope.child("b", slowToSettle("b"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.journal.includes("start b"), "b started")
      toplevel.shutdownToken.signal()
      yield* quiesce
      expect(probe.journal).toEqual(["start a", "start b", "settle b"])
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.journal.includes("settle a"), "a asked to settle")
      expect(probe.journal).toEqual(["start a", "start b", "settle b", "done b", "settle a"])
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(run)
      expect(probe.journal).toEqual(["start a", "start b", "settle b", "done b", "settle a", "done a"])
    }))

  it.effect("a child that settles within its budget is not interrupted", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const settlesIn = (d: Duration.Input) =>
        MainLoop.spawn(Lifecycle.settling.pipe(
          Effect.andThen(Effect.sleep(d)),
          Effect.onExit((exit) => probe.record(`exit ${Exit.isSuccess(exit) ? "normal" : "interrupted"}`))
        ))
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child("a", settlesIn("1999 millis"), { shutdown: "2 seconds" }).pipe(Effect.asVoid)))
      const run = yield* launch(toplevel)
      yield* quiesce
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* TestClock.adjust("1999 millis")
      yield* Fiber.join(run)
      expect(probe.journal).toEqual(["exit normal"])
    }))

  it.effect("a child that ignores settling is interrupted at its budget, not a millisecond before", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("stubborn", probe.worker("stubborn", { settles: false }), { shutdown: "2 seconds" }).pipe(Effect.asVoid)
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("stubborn") === 1, "started")
      toplevel.shutdownToken.signal()
      yield* eventually(() => probe.journal.includes("settle stubborn"), "asked to settle")
      yield* TestClock.adjust("1999 millis")
      expect(probe.entries("exit")).toEqual([])
      expect(run.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(run)
      expect(probe.entries("exit")).toEqual(["exit stubborn interrupted"])
    }))

  it.effect("the default budget of a worker is 5 seconds", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("stubborn", probe.worker("stubborn", { settles: false })).pipe(Effect.asVoid)
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("stubborn") === 1, "started")
      toplevel.shutdownToken.signal()
      yield* eventually(() => probe.journal.includes("settle stubborn"), "asked to settle")
      yield* TestClock.adjust("4999 millis")
      expect(probe.entries("exit")).toEqual([])
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(run)
      expect(probe.entries("exit")).toEqual(["exit stubborn interrupted"])
    }))

  it.effect("a brutal child is interrupted at once, without being asked to settle first", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("brutal", probe.worker("brutal"), { shutdown: "brutal" }).pipe(Effect.asVoid)
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("brutal") === 1, "started")
      yield* shutdown(toplevel, run)
      expect(probe.journal).toEqual(["start brutal", "exit brutal interrupted"])
    }))

  it.effect("an infinity child is waited for as long as it takes", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("patient", MainLoop.spawn(Lifecycle.settling.pipe(
          Effect.andThen(Effect.sleep("1 hour")),
          Effect.onExit((exit) => probe.record(Exit.isSuccess(exit) ? "finished" : "interrupted"))
        )), { shutdown: "infinity" }).pipe(Effect.asVoid)
      ))
      const run = yield* launch(toplevel)
      yield* quiesce
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* TestClock.adjust("59 minutes")
      expect(run.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(run)
      expect(probe.journal).toEqual(["finished"])
    }))

  it.effect("a subsystem is waited for by default until its own children's budgets have run out", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const sub = System.make((scope) =>
        scope.child("stubborn", probe.worker("stubborn", { settles: false }), { shutdown: "30 seconds" }).pipe(Effect.asVoid)
      )
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("first", probe.worker("first"))
          yield* scope.system("sub", sub)
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("stubborn") === 1, "started")
      toplevel.shutdownToken.signal()
      yield* eventually(() => probe.journal.includes("settle stubborn"), "asked to settle")
      yield* TestClock.adjust("29 seconds")
      expect(probe.entries("exit")).toEqual([])
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(run)
      expect(probe.entries("exit")).toEqual(["exit stubborn interrupted", "exit first normal"])
    }))

  it.effect("a subsystem's own budget bounds it: then its children are interrupted in reverse order", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const stubborn = System.make((scope) =>
        Effect.forEach(["x", "y"], (n) => scope.child(n, probe.worker(n, { settles: false }), { shutdown: "1 minute" }), { discard: true })
      )
      const toplevel = Toplevel.make("app", System.make((scope) => scope.system("sub", stubborn, { shutdown: "10 seconds" })))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("y") === 1, "started")
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* TestClock.adjust("9999 millis")
      expect(probe.entries("exit")).toEqual([])
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(run)
      expect(probe.entries("exit")).toEqual(["exit y interrupted", "exit x interrupted"])
    }))

  it.effect("interrupting start() interrupts every child at once, in reverse order", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a", { settles: false }))
          yield* scope.system("sub", flat(probe, ["b", "c"]))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("c") === 1, "started")
      yield* Fiber.interrupt(run)
      expect(probe.entries("exit")).toEqual(["exit c interrupted", "exit b interrupted", "exit a interrupted"])
      expect(probe.entries("settle")).toEqual([])
    }))

  it.effect("a shutdown signalled before start() ends it at once, successfully, without starting anything", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]))
      toplevel.shutdownToken.signal()
      yield* toplevel.start()
      expect(probe.journal).toEqual([])
    }))

  it.effect("a shutdown during startup interrupts the starting child, settles the running ones, and succeeds", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("connecting", probe.worker("connecting", {
            setup: Effect.never.pipe(Effect.onInterrupt(() => probe.record("startup interrupted")))
          }))
          yield* scope.child("never", probe.worker("never"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("connecting") === 1, "connecting")
      yield* shutdown(toplevel, run)
      expect(probe.journal).toEqual(["start a", "start connecting", "startup interrupted", "settle a", "exit a normal"])
    }))

  it.effect("a shutdown during a subsystem's startup settles that subsystem's running children", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const sub = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("ready", probe.worker("sub/ready"))
          yield* scope.child("slow", probe.worker("sub/slow", { setup: Effect.never }))
        })
      )
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.system("sub", sub)
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("sub/slow") === 1, "slow starting")
      yield* shutdown(toplevel, run)
      expect(probe.journal).toEqual([
        "start a",
        "start sub/ready",
        "start sub/slow",
        "settle sub/ready",
        "exit sub/ready normal",
        "settle a",
        "exit a normal"
      ])
    }))

  it.effect("a shutdown during a restart completes without starting the children again", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("slow", MainLoop.spawn(Lifecycle.settling.pipe(
            Effect.andThen(probe.record("slow settling")),
            Effect.andThen(Effect.sleep("1 second"))
          )))
          yield* scope.child("crashy", probe.worker("crashy"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      yield* probe.crash("crashy")
      yield* eventually(() => probe.journal.includes("slow settling"), "restart stopping slow")
      toplevel.shutdownToken.signal()
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.await(run)).toEqual(Exit.void)
      expect(probe.startsOf("crashy")).toBe(1)
    }))

  it.effect("a shutdown during a restart that abandoned a declaration is not mistaken for a failed replay", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make(
        "app",
        System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("slow", MainLoop.spawn(Lifecycle.settling.pipe(
              Effect.andThen(probe.record("slow settling")),
              Effect.andThen(Effect.sleep("1 second"))
            )))
            yield* scope.child("crashy", probe.worker("crashy"))
            yield* scope.child("connecting", probe.worker("connecting", { setup: Effect.never }))
          })
        ),
        { intensity: { maxRestarts: 1, within: "1 minute" } }
      )
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("connecting") === 1, "declaration in progress")
      yield* probe.crash("crashy")
      yield* eventually(() => probe.journal.includes("slow settling"), "restart stopping slow")
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.await(run)).toEqual(Exit.void)
      expect(probe.startsOf("crashy")).toBe(1)
    }))

  it.effect("signal() is idempotent", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("a") === 1, "started")
      toplevel.shutdownToken.signal()
      toplevel.shutdownToken.signal()
      expect(toplevel.shutdownToken.isSignalled).toBe(true)
      expect(yield* Fiber.await(run)).toEqual(Exit.void)
      expect(probe.entries("exit")).toEqual(["exit a normal"])
    }))
})

describe("run() for a main that is not an Effect", () => {
  it("resolves after signal() from a plain callback", async () => {
    const probe = new Probe()
    const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]))
    setTimeout(() => toplevel.shutdownToken.signal(), 10)
    await toplevel.run()
    expect(probe.journal).toEqual(["start a", "start b", "settle b", "exit b normal", "settle a", "exit a normal"])
  })

  it("rejects with the toplevel's error", async () => {
    const toplevel = Toplevel.make("app", System.make((scope) => scope.child("bad", Effect.fail("nope")).pipe(Effect.asVoid)))
    await expect(toplevel.run()).rejects.toMatchObject({ _tag: "StartupFailed", path: "app/bad" })
  })
})

describe("interrupting start() during a graceful shutdown", () => {
  it.effect("interrupts the children not yet stopped at once instead of settling them", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("first", probe.worker("first"))
          yield* scope.child("stubborn", probe.worker("stubborn", { settles: false }), { shutdown: "1 hour" })
          yield* scope.child("last", probe.worker("last"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("last") === 1, "started")
      toplevel.shutdownToken.signal()
      yield* eventually(() => probe.journal.includes("settle stubborn"), "stubborn asked to settle")
      yield* Fiber.interrupt(run)
      expect(probe.entries("settle")).toEqual(["settle last", "settle stubborn"])
      expect(probe.entries("exit")).toEqual(["exit last normal", "exit stubborn interrupted", "exit first interrupted"])
    }))
})
