/**
 * The drain's pace (`SPOOL_DELIVERY_RATE`), under TestClock: paced only while a backlog of more than a second's
 * worth waits, at `rate` messages a second, with a second's credit after a quiet spell.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { pacer } from "./delivery.ts"

/** When each of `counts` went, handed over one after another. */
const handOver = (pace: (count: number) => Effect.Effect<void>, counts: ReadonlyArray<number>) =>
  Effect.forEach(counts, (count) => Effect.andThen(pace(count), Clock.currentTimeMillis))

describe("the spool's drain pace", () => {
  it.effect("paces a backlog at the rate: 5,000 messages at a time at 10,000 a second go every half second", () =>
    Effect.gen(function*() {
      const pace = pacer(() => 50_000, 10_000)
      const fiber = yield* Effect.forkChild(handOver(pace, [5_000, 5_000, 5_000, 5_000]))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toEqual([0, 500, 1_000, 1_500])
    }))

  it.effect("after a quiet spell, a second's worth starts at once (the batch that begins at its end too)", () =>
    Effect.gen(function*() {
      const pace = pacer(() => 50_000, 10_000)
      yield* TestClock.adjust("10 seconds")
      const fiber = yield* Effect.forkChild(handOver(pace, [5_000, 5_000, 5_000, 5_000]))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toEqual([10_000, 10_000, 10_000, 10_500])
    }))

  it.effect("does not pace normal flow (no more than a second's worth waiting), nor with no limit", () =>
    Effect.gen(function*() {
      expect(yield* handOver(pacer(() => 10_000, 10_000), [5_000, 5_000, 5_000])).toEqual([0, 0, 0])
      expect(yield* handOver(pacer(() => 50_000, 0), [5_000, 5_000, 5_000])).toEqual([0, 0, 0])
    }))
})
