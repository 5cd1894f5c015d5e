import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Errors, Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { eventually, flat, Probe } from "./helpers.ts"

class Greeting extends Context.Service<Greeting, string>()("test/Greeting") {}

/** The defect a program ended with, once the tree's failure ended it. */
const defectOf = (exit: Exit.Exit<unknown, unknown>): unknown =>
  Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isDieReason)?.defect : undefined

describe("Toplevel.layer", () => {
  it.effect("building it resumes once the children run; closing its scope settles them in reverse order", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b", "c"]))
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(Toplevel.layer(toplevel), scope)
      expect(probe.entries("start")).toEqual(["start a", "start b", "start c"])
      expect((yield* toplevel.snapshot).root.state).toBe("running")
      yield* Scope.close(scope, Exit.void)
      expect(probe.journal.filter((entry) => !entry.startsWith("start"))).toEqual([
        "settle c",
        "exit c normal",
        "settle b",
        "exit b normal",
        "settle a",
        "exit a normal"
      ])
      expect((yield* toplevel.snapshot).root.state).toBe("stopped")
    }))

  it.effect("closing its scope waits for each child's settle budget, then interrupts it", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("stubborn", probe.worker("stubborn", { settles: false }), { shutdown: "10 seconds" }).pipe(Effect.asVoid)
      ))
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(Toplevel.layer(toplevel), scope)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void), { startImmediately: true })
      yield* eventually(() => probe.entries("settle").length === 1, "asked to settle")
      yield* TestClock.adjust("9 seconds")
      expect(closing.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
      expect(probe.entries("exit")).toEqual(["exit stubborn interrupted"])
    }))

  it.effect("closing the scope while the tree starts stops it as a shutdown would: running children settle", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const slow = Effect.andThen(Effect.sleep("1 minute"), probe.worker("slow"))
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("slow", slow)
        })
      ))
      const scope = yield* Scope.make()
      const building = yield* Effect.forkChild(Layer.buildWithScope(Toplevel.layer(toplevel), scope), { startImmediately: true })
      yield* eventually(() => probe.startsOf("a") === 1, "a started")
      // Ctrl-C under Layer.launch: the program, still building the layer, is interrupted, and its scope closes.
      yield* Fiber.interrupt(building)
      yield* Scope.close(scope, Exit.void)
      expect(probe.journal).toEqual(["start a", "settle a", "exit a normal"])
      expect((yield* toplevel.snapshot).root.state).toBe("stopped")
    }))

  it.effect("a startup failure fails the build with the tree's error, the children started before it stopped", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("broken", Effect.fail(new Error("no database")))
        })
      ))
      const error = yield* Effect.flip(Effect.scoped(Layer.build(Toplevel.layer(toplevel))))
      expect(error).toBeInstanceOf(Errors.StartupFailed)
      expect(error).toMatchObject({ path: "app/broken" })
      expect(probe.entries("exit")).toEqual(["exit a normal"])
    }))

  it.effect("the tree giving up ends the program that built the layer, with the tree's error", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]), { intensity: { maxRestarts: 0, within: "1 second" } })
      const program = yield* Effect.forkChild(Effect.provide(Effect.never, Toplevel.layer(toplevel)), { startImmediately: true })
      yield* eventually(() => probe.startsOf("b") === 1, "tree started")
      yield* probe.crash("b")
      const exit = yield* Fiber.await(program)
      expect(defectOf(exit)).toBeInstanceOf(Errors.TooManyRestarts)
      expect(defectOf(exit)).toMatchObject({ path: "app", child: "app/b" })
      expect(probe.entries("exit")).toEqual(["exit b failure", "exit a normal"])
    }))

  it.effect("the tree ending by itself (its shutdown token signalled) ends the program too", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]))
      const program = yield* Effect.forkChild(Effect.provide(Effect.never, Toplevel.layer(toplevel)), { startImmediately: true })
      yield* eventually(() => probe.startsOf("a") === 1, "tree started")
      toplevel.shutdownToken.signal()
      const exit = yield* Fiber.await(program)
      expect(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)).toBe(true)
      expect(probe.entries("exit")).toEqual(["exit a normal"])
    }))

  it.effect("the services the tree needs come from the layers it is provided with", () =>
    Effect.gen(function*() {
      const greeted = yield* Deferred.make<string>()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("greeter", Effect.gen(function*() {
          yield* Deferred.succeed(greeted, yield* Greeting)
          return yield* MainLoop.spawn(Lifecycle.settling)
        })).pipe(Effect.asVoid)
      ))
      const needs = Toplevel.layer(toplevel)
      expectTypeOf(needs).toEqualTypeOf<Layer.Layer<never, Errors.ToplevelError, Greeting>>()
      const provided = needs.pipe(Layer.provide(Layer.succeed(Greeting, "hello")))
      expectTypeOf(provided).toEqualTypeOf<Layer.Layer<never, Errors.ToplevelError, never>>()
      yield* Effect.scoped(Effect.andThen(Layer.build(provided), Deferred.await(greeted))).pipe(
        Effect.map((greeting) => expect(greeting).toBe("hello"))
      )
    }))
})
