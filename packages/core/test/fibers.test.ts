import { describe, expect, it } from "@effect/vitest"
import { MainLoop, System, Toplevel } from "@arbor/core"
import { Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { eventually, launch, Probe, quiesce, shutdown } from "./helpers.ts"

/** A fiber body that records a tick every second, for as long as it runs. */
const ticker = (probe: Probe, label: string) =>
  Effect.forever(Effect.andThen(Effect.sleep("1 second"), probe.record(`tick ${label}`)))

const ticks = (probe: Probe) => probe.journal.filter((e) => e.startsWith("tick")).length

/** Runs a one-child tree, lets it tick, shuts it down, and checks no tick happens after. */
const noTickAfterShutdown = (probe: Probe, startup: Effect.Effect<MainLoop.MainLoop<void>, never, MainLoop.SpawnContext>) =>
  Effect.gen(function*() {
    const toplevel = Toplevel.make("app", System.make((scope) => scope.child("forker", startup, { shutdown: "brutal" }).pipe(Effect.asVoid)))
    const run = yield* launch(toplevel)
    yield* quiesce
    yield* TestClock.adjust("3 seconds")
    const before = ticks(probe)
    expect(before).toBeGreaterThan(0)
    yield* shutdown(toplevel, run)
    yield* TestClock.adjust("10 seconds")
    expect(ticks(probe)).toBe(before)
  })

describe("no fiber outlives its child", () => {
  it.effect("a fiber the startup function forked as its child", () => {
    const probe = new Probe()
    return noTickAfterShutdown(probe, Effect.gen(function*() {
      yield* Effect.forkChild(ticker(probe, "startup child"))
      return yield* MainLoop.spawn(Effect.never)
    }))
  })

  it.effect("a fiber the startup function forked into its scope", () => {
    const probe = new Probe()
    return noTickAfterShutdown(probe, Effect.gen(function*() {
      yield* Effect.forkScoped(ticker(probe, "scoped"))
      return yield* MainLoop.spawn(Effect.never)
    }))
  })

  it.effect("a fiber the main loop forked as its child", () => {
    const probe = new Probe()
    return noTickAfterShutdown(probe, MainLoop.spawn(Effect.andThen(Effect.forkChild(ticker(probe, "main child")), Effect.never)))
  })

  it.effect("a main loop the startup function forked itself and wrapped with MainLoop.make", () => {
    const probe = new Probe()
    return noTickAfterShutdown(probe, Effect.map(Effect.forkChild(ticker(probe, "main")), (fiber) => MainLoop.make(fiber)))
  })

  it.effect("a detached fiber handed over with MainLoop.make is the supervisor's to stop", () => {
    const probe = new Probe()
    return noTickAfterShutdown(probe, Effect.map(Effect.forkDetach(ticker(probe, "detached main")), (fiber) => MainLoop.make(fiber)))
  })

  it.effect("each child's resources are released when that child stops, before its older sibling is asked to settle", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const withResource = (name: string) =>
        Effect.andThen(
          Effect.acquireRelease(probe.record(`open ${name}`), () => probe.record(`close ${name}`)),
          probe.worker(name)
        )
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", withResource("a"))
          yield* scope.child("b", withResource("b"))
          yield* scope.child("crashy", probe.worker("crashy"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      probe.clear()
      yield* probe.crash("crashy")
      yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
      expect(probe.journal).toEqual([
        "exit crashy failure",
        "settle b",
        "exit b normal",
        "close b",
        "settle a",
        "exit a normal",
        "close a",
        "open a",
        "start a",
        "open b",
        "start b",
        "start crashy"
      ])
      probe.clear()
      yield* shutdown(toplevel, run)
      expect(probe.journal).toEqual([
        "settle crashy",
        "exit crashy normal",
        "settle b",
        "exit b normal",
        "close b",
        "settle a",
        "exit a normal",
        "close a"
      ])
    }))

  it.effect("the fibers of an incarnation that crashed stop before its replacement starts", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      let incarnation = 0
      const startup = Effect.gen(function*() {
        const n = ++incarnation
        yield* probe.record(`start ${n}`)
        yield* Effect.forkChild(ticker(probe, `${n}`))
        yield* Effect.forkScoped(ticker(probe, `${n} scoped`))
        return yield* probe.worker("crashy")
      })
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child("crashy", startup).pipe(Effect.asVoid)))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      yield* TestClock.adjust("2 seconds")
      yield* probe.crash("crashy")
      yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
      yield* TestClock.adjust("2 seconds")
      const afterRestart = probe.journal.slice(probe.journal.indexOf("start 2"))
      expect(afterRestart.filter((e) => e.startsWith("tick 1"))).toEqual([])
      expect(afterRestart.filter((e) => e.startsWith("tick 2"))).toHaveLength(4)
      yield* shutdown(toplevel, run)
    }))

  it.effect("resources acquired in startup are released after the main loop ends, in reverse order", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const resource = (name: string) => Effect.acquireRelease(probe.record(`open ${name}`), () => probe.record(`close ${name}`))
      const startup = Effect.gen(function*() {
        yield* resource("db")
        yield* resource("cache")
        return yield* probe.worker("service")
      })
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child("service", startup).pipe(Effect.asVoid)))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("service") === 1, "started")
      yield* shutdown(toplevel, run)
      expect(probe.journal).toEqual([
        "open db",
        "open cache",
        "start service",
        "settle service",
        "exit service normal",
        "close cache",
        "close db"
      ])
    }))

  it.effect("a startup that fails after forking leaves nothing running", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const startup = Effect.gen(function*() {
        yield* Effect.forkChild(ticker(probe, "child"))
        yield* Effect.forkScoped(ticker(probe, "scoped"))
        yield* Effect.sleep("2 seconds")
        return yield* Effect.fail("setup failed")
      })
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child("broken", startup).pipe(Effect.asVoid)))
      const run = yield* launch(toplevel)
      yield* quiesce
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.await(run)
      expect(Exit.isFailure(exit)).toBe(true)
      const before = ticks(probe)
      yield* TestClock.adjust("10 seconds")
      expect(ticks(probe)).toBe(before)
    }))

  it.effect("fibers of a subsystem's children stop when the subsystem is restarted by its parent", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const sub = System.make((scope) =>
        scope.child("ticking", MainLoop.spawn(Effect.andThen(Effect.forkChild(ticker(probe, "sub")), Effect.never)), { shutdown: "brutal" })
          .pipe(Effect.asVoid)
      )
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.system("sub", sub)
          yield* scope.child("crashy", probe.worker("crashy"))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      yield* TestClock.adjust("3 seconds")
      expect(ticks(probe)).toBe(3)
      yield* probe.crash("crashy")
      yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
      yield* TestClock.adjust("3 seconds")
      // One ticker (the new incarnation's), not two.
      expect(ticks(probe)).toBe(6)
      yield* shutdown(toplevel, run)
    }))
})
