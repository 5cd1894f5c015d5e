import { describe, expect, it } from "@effect/vitest"
import { Backpressure, HealthGate } from "@arbor/core"
import { Clock, type Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { quiesce } from "./helpers.ts"

class Busy {
  readonly _tag = "Busy"
}
class Broken {
  readonly _tag = "Broken"
}

const busy = (error: Busy | Broken) => error instanceof Busy

/** An operation that answers "busy" `times` times, then succeeds; it remembers when it was tried. */
const busyFor = (times: number) => {
  const tries: Array<number> = []
  const attempt = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    tries.push(now)
    return tries.length <= times ? Effect.fail<Busy | Broken>(new Busy()) : Effect.succeed(tries.length)
  })
  return { tries, attempt }
}

/** Runs `effect` in a fiber and moves the clock on until it is done. */
const drive = <A, E>(effect: Effect.Effect<A, E>, step: Duration.Input = "0.5 millis", steps = 10_000) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect, { startImmediately: true })
    for (let i = 0; i < steps && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust(step)
    return yield* Fiber.await(fiber)
  })

describe("Backpressure.retry", () => {
  it.effect("waits 0.5 ms, doubling up to 50 ms, between busy answers, until the operation succeeds", () =>
    Effect.gen(function*() {
      const writes = yield* Backpressure.make({ busy })
      const { tries, attempt } = busyFor(9)
      const exit = yield* drive(writes.retry(attempt))
      expect(exit).toMatchObject({ _tag: "Success", value: 10 })
      const waits = tries.slice(1).map((at, i) => at - tries[i]!)
      expect(waits).toEqual([0.5, 1, 2, 4, 8, 16, 32, 50, 50])
    }))

  it.effect("stops at the first error that is not busy", () =>
    Effect.gen(function*() {
      const writes = yield* Backpressure.make({ busy })
      let tries = 0
      const attempt = Effect.suspend(() => Effect.fail<Busy | Broken>(++tries < 3 ? new Busy() : new Broken()))
      const exit = yield* drive(writes.retry(attempt))
      expect(exit).toMatchObject({ _tag: "Failure" })
      expect(String(exit)).toContain("Broken")
      expect(tries).toBe(3)
    }))

  it.effect("fails with DeadlineExceeded when the caller's deadline comes first", () =>
    Effect.gen(function*() {
      const writes = yield* Backpressure.make({ busy, timeout: "1 second" })
      const { tries, attempt } = busyFor(1000)
      const exit = yield* drive(writes.retry(attempt, { deadline: 20 }))
      expect(exit).toMatchObject({ _tag: "Failure" })
      const error = yield* Effect.flip(Effect.flatten(Effect.succeed(exit)))
      expect(error).toBeInstanceOf(Backpressure.DeadlineExceeded)
      expect(error).toMatchObject({ deadline: 20, attempts: 6 })
      // It gives up as soon as the next try would come after the deadline, without sleeping past it.
      expect(tries).toEqual([0, 0.5, 1.5, 3.5, 7.5, 15.5])
      expect(yield* Clock.currentTimeMillis).toBeLessThan(20)
    }))

  it.effect("fails with TimedOut when the operation's own timeout comes first, and tells the gate", () =>
    Effect.gen(function*() {
      const gate = yield* HealthGate.make("store")
      const writes = yield* Backpressure.make({ busy, timeout: "100 millis", gate })
      const { attempt } = busyFor(1000)
      const exit = yield* drive(writes.retry(attempt, { deadline: 10_000 }))
      const error = yield* Effect.flip(Effect.flatten(Effect.succeed(exit)))
      expect(error).toBeInstanceOf(Backpressure.TimedOut)
      expect((error as Backpressure.TimedOut).message).toBe("no success within the operation's timeout of 100ms (8 attempts)")
      expect(yield* gate.status).toMatchObject({ _tag: "Suspect", reason: expect.stringContaining("TimedOut") })
    }))

  it.effect("interrupts an attempt still running at the deadline", () =>
    Effect.gen(function*() {
      const writes = yield* Backpressure.make({ busy, timeout: "1 second" })
      let interrupted = false
      const hangs = Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted = true)))
      const exit = yield* drive(writes.retry(hangs), "100 millis", 20)
      expect(String(exit)).toContain("TimedOut")
      expect(interrupted).toBe(true)
      expect(yield* Clock.currentTimeMillis).toBe(1000)
    }))

  it.effect("stops with Unhealthy once the gate latches, without another attempt", () =>
    Effect.gen(function*() {
      const gate = yield* HealthGate.make("store")
      const writes = yield* Backpressure.make({ busy, gate })
      const { tries, attempt } = busyFor(1000)
      const fiber = yield* Effect.forkChild(writes.retry(attempt), { startImmediately: true })
      yield* TestClock.adjust("2 millis")
      yield* gate.record(Object.assign(new Error("disk full"), { code: "ENOSPC" }))
      const before = tries.length
      yield* TestClock.adjust("100 millis")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toBeInstanceOf(HealthGate.Unhealthy)
      expect(tries.length).toBe(before)
    }))

  it.effect("with maxWaiting, a busy caller waits for its turn to wait, within its deadline", () =>
    Effect.gen(function*() {
      const writes = yield* Backpressure.make({ busy, maxWaiting: 1 })
      const first = busyFor(5)
      const second = busyFor(5)
      const one = yield* Effect.forkChild(writes.retry(first.attempt), { startImmediately: true })
      const two = yield* Effect.forkChild(writes.retry(second.attempt), { startImmediately: true })
      const three = yield* Effect.forkChild(writes.retry(busyFor(5).attempt, { deadline: 5 }), { startImmediately: true })
      yield* quiesce
      expect(second.tries).toEqual([0])
      for (let i = 0; i < 100; i++) yield* TestClock.adjust("0.5 millis")
      expect(yield* Fiber.join(one)).toBe(6)
      expect(yield* Fiber.join(two)).toBe(6)
      // The second only began to back off once the first was done.
      expect(second.tries[1]!).toBeGreaterThanOrEqual(first.tries[5]!)
      expect(yield* Effect.flip(Fiber.join(three))).toBeInstanceOf(Backpressure.DeadlineExceeded)
    }))

  it.effect("a deadline already past fails at once, without an attempt", () =>
    Effect.gen(function*() {
      const writes = yield* Backpressure.make({ busy })
      yield* TestClock.adjust("1 second")
      const { tries, attempt } = busyFor(0)
      expect(yield* Effect.flip(writes.retry(attempt, { deadline: 500 }))).toBeInstanceOf(Backpressure.DeadlineExceeded)
      expect(tries).toEqual([])
    }))

  it.effect("bad options fail with InvalidOptions", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Backpressure.make({ busy, maxWaiting: 0 }))
      expect(error.message).toContain("maxWaiting")
      const noBusy = yield* Effect.flip(Backpressure.make({} as Backpressure.Options<Busy>))
      expect(noBusy.message).toContain("busy")
    }))
})
