import { describe, expect, it } from "@effect/vitest"
import { Errors, Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { Effect, Exit, Fiber, Ref } from "effect"
import { TestClock } from "effect/testing"
import { eventually, launch, quiesce, shutdown } from "./helpers.ts"

/** A worker that feeds its deadline every `period` ms for `beats` beats, then stops feeding (but keeps running). */
const beating = (starts: Ref.Ref<number>, beats: number, period: number) =>
  Effect.andThen(Ref.update(starts, (n) => n + 1), MainLoop.spawn(Effect.gen(function*() {
    for (let i = 0; i < beats; i++) {
      yield* Effect.sleep(period)
      yield* Lifecycle.feed
    }
    yield* Effect.never
  }).pipe(Effect.raceFirst(Lifecycle.settling))))

describe("hung-child deadlines", () => {
  it.effect("a child that keeps feeding within its deadline is left alone", () =>
    Effect.gen(function*() {
      const starts = yield* Ref.make(0)
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("w", beating(starts, 100, 900), { liveness: { deadline: "1 second" } })
      ))
      const run = yield* launch(toplevel)
      yield* quiesce
      for (let i = 0; i < 20; i++) {
        yield* TestClock.adjust("900 millis")
        yield* quiesce
      }
      expect(yield* Ref.get(starts)).toBe(1)
      yield* shutdown(toplevel, run)
    }))

  it.effect("a child that misses its deadline is interrupted, fails with Hung, and is restarted by its policy", () =>
    Effect.gen(function*() {
      const starts = yield* Ref.make(0)
      const interrupted = yield* Ref.make(0)
      const worker = Effect.andThen(Ref.update(starts, (n) => n + 1), MainLoop.spawn(
        Effect.onInterrupt(Lifecycle.settling, () => Ref.update(interrupted, (n) => n + 1))
      ))
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("w", worker, { liveness: { deadline: "5 seconds" } })
      ))
      const run = yield* launch(toplevel)
      yield* quiesce
      yield* TestClock.adjust("4999 millis")
      yield* quiesce
      expect(yield* Ref.get(starts)).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* eventually(() => Effect.runSync(Ref.get(starts)) === 2, "restarted after the deadline")
      yield* quiesce
      expect(yield* Ref.get(interrupted)).toBe(1)
      const snapshot = yield* toplevel.snapshot
      expect(snapshot.root.children?.[0]).toMatchObject({
        restarts: 1,
        lastExit: { kind: "failure", message: "Hung: app/w: no heartbeat within 5s; taken for hung", at: 5000 },
        lastHeartbeat: 5000
      })
      yield* shutdown(toplevel, run)
    }))

  it.effect("a hung child counts toward intensity", () =>
    Effect.gen(function*() {
      const starts = yield* Ref.make(0)
      const toplevel = Toplevel.make(
        "app",
        System.make((scope) => scope.child("w", beating(starts, 0, 0), { liveness: { deadline: "1 second" } })),
        { intensity: { maxRestarts: 2, within: "1 minute" } }
      )
      const run = yield* launch(toplevel)
      for (let i = 0; i < 3; i++) {
        yield* quiesce
        yield* TestClock.adjust("1 second")
      }
      const exit = yield* Fiber.await(run)
      const error = Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error : undefined
      expect(error).toBeInstanceOf(Errors.TooManyRestarts)
      expect((error as Errors.TooManyRestarts).message).toContain("Hung: app/w: no heartbeat within 1s")
      expect(yield* Ref.get(starts)).toBe(3)
    }))

  it.effect("the snapshot shows the last heartbeat", () =>
    Effect.gen(function*() {
      const starts = yield* Ref.make(0)
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("fed", beating(starts, 2, 1000), { liveness: { deadline: "10 seconds" } })
          yield* scope.child("plain", MainLoop.spawn(Lifecycle.settling))
        })
      ))
      const run = yield* launch(toplevel)
      yield* quiesce
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      const [fed, plain] = (yield* toplevel.snapshot).root.children ?? []
      expect(fed?.lastHeartbeat).toBe(2000)
      expect(plain).not.toHaveProperty("lastHeartbeat")
      yield* shutdown(toplevel, run)
    }))

  it.effect("rejects a liveness deadline that is not a positive duration", () =>
    Effect.gen(function*() {
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("w", MainLoop.spawn(Effect.never), { liveness: { deadline: 0 } })
      ))
      const error = yield* Effect.flip(toplevel.start())
      expect(error).toBeInstanceOf(Errors.InvalidOptions)
      expect(error.message).toContain("liveness")
    }))
})
