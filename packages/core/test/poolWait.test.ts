/**
 * Pools that wait: a full pool's callers that say `wait` queue for a slot, in
 * arrival order, and leave no trace when they give up.
 */
import { describe, expect, it } from "@effect/vitest"
import { Errors, Lifecycle, MainLoop, Metrics, Pool, System, Toplevel } from "@arbor/core"
import { Effect, Fiber, Metric, Queue } from "effect"
import { TestClock } from "effect/testing"
import { eventually, launch, Probe, quiesce, shutdown } from "./helpers.ts"

const withPool = (options: Pool.PoolOptions) => {
  const pools: Array<Pool.Pool> = []
  const tree = System.make((scope) => Effect.map(scope.pool("jobs", options), (pool) => void pools.push(pool)))
  return { toplevel: Toplevel.make("app", tree), pools }
}

/** A running tree whose only child is a pool with `options`; `stop` shuts it down gracefully. */
const running = (options: Pool.PoolOptions) =>
  Effect.gen(function*() {
    const { pools, toplevel } = withPool(options)
    const run = yield* launch(toplevel)
    yield* eventually(() => pools.length === 1, "pool started")
    return { pool: pools[0]!, probe: new Probe(), toplevel, stop: shutdown(toplevel, run) }
  })

/** Forks a caller of `spawn` now, so that callers queue in the order they are forked. */
const caller = <A, E>(spawn: Effect.Effect<A, E>) => Effect.forkChild(spawn, { startImmediately: true })

const waitingGauge = Effect.map(Metric.value(Metric.withAttributes(Metrics.poolWaiting, { path: "app/jobs" })), (s) => s.value)

describe("pools that wait for a slot", () => {
  it.effect("callers wait in arrival order; each slot that comes free goes to the first; they are counted meanwhile", () =>
    Effect.gen(function*() {
      const { pool, probe, stop, toplevel } = yield* running({ maxChildren: 1, wait: "infinity" })
      const first = yield* pool.spawn(probe.worker("a"))
      const waiters = [
        yield* caller(pool.spawn(probe.worker("b"))),
        yield* caller(pool.spawn(probe.worker("c"))),
        yield* caller(pool.spawn(probe.worker("d")))
      ]
      expect(yield* pool.waiting).toBe(3)
      expect(yield* waitingGauge).toBe(3)
      const node = (yield* toplevel.snapshot).root.children?.[0]
      expect(node?.counts).toEqual({ children: 1, running: 1, restarting: 0, waiting: 3 })
      yield* first.stop
      const b = yield* Fiber.join(waiters[0]!)
      expect([probe.startsOf("b"), probe.startsOf("c"), yield* pool.waiting]).toEqual([1, 0, 2])
      yield* b.stop
      const c = yield* Fiber.join(waiters[1]!)
      yield* c.stop
      yield* Fiber.join(waiters[2]!)
      expect(probe.entries("start")).toEqual(["start a", "start b", "start c", "start d"])
      expect([yield* pool.waiting, yield* pool.size]).toEqual([0, 1])
      yield* stop
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("the default stays fail-fast: a full pool without wait refuses at once", () =>
    Effect.gen(function*() {
      const { pool, probe, stop } = yield* running({ maxChildren: 1 })
      yield* pool.spawn(probe.worker("a"))
      const full = yield* Effect.flip(pool.spawn(probe.worker("b")))
      expect(full.message).toBe("app/jobs: pool is full (1 children)")
      expect(yield* pool.waiting).toBe(0)
      yield* stop
    }))

  it.effect("a waiter that times out fails with PoolFull saying how long it waited, and leaves no trace", () =>
    Effect.gen(function*() {
      const { pool, probe, stop } = yield* running({ maxChildren: 1 })
      const a = yield* pool.spawn(probe.worker("a"))
      const late = yield* caller(Effect.flip(pool.run(probe.worker("late"), { wait: "1 second" })))
      const patient = yield* caller(pool.spawn(probe.worker("patient"), { wait: "1 minute" }))
      expect(yield* pool.waiting).toBe(2)
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(late)
      expect(error).toBeInstanceOf(Errors.PoolFull)
      expect(error.message).toBe("app/jobs: pool is full (1 children); no slot came free within 1s")
      expect(yield* pool.waiting).toBe(1)
      yield* a.stop
      yield* Fiber.join(patient)
      expect([probe.startsOf("late"), probe.startsOf("patient"), yield* pool.size, yield* pool.waiting]).toEqual([0, 1, 1, 0])
      yield* stop
    }))

  it.effect("an interrupted waiter leaves no trace: the slots go to the others, none is lost", () =>
    Effect.gen(function*() {
      const { pool, probe, stop } = yield* running({ maxChildren: 2, wait: "infinity" })
      const a = yield* pool.spawn(probe.worker("a"))
      const b = yield* pool.spawn(probe.worker("b"))
      const gone = yield* caller(pool.spawn(probe.worker("gone")))
      const second = yield* caller(pool.spawn(probe.worker("second")))
      const third = yield* caller(pool.spawn(probe.worker("third")))
      yield* Fiber.interrupt(gone)
      expect(yield* pool.waiting).toBe(2)
      yield* a.stop
      yield* Fiber.join(second)
      expect([yield* pool.size, yield* pool.waiting]).toEqual([2, 1])
      yield* b.stop
      const c = yield* Fiber.join(third)
      expect([probe.startsOf("gone"), probe.startsOf("second"), probe.startsOf("third")]).toEqual([0, 1, 1])
      // Exactly one slot comes free when one child stops: nothing was lost or counted twice.
      yield* c.stop
      yield* pool.spawn(probe.worker("d"))
      const e = yield* caller(pool.spawn(probe.worker("e")))
      expect([yield* pool.size, yield* pool.waiting]).toEqual([2, 1])
      yield* Fiber.interrupt(e)
      yield* stop
    }))

  it.effect("waiters fail with PoolClosed when the pool shuts down", () =>
    Effect.gen(function*() {
      const { pool, probe, stop } = yield* running({ maxChildren: 1, wait: "infinity" })
      yield* pool.spawn(probe.worker("a"))
      const waiter = yield* caller(Effect.flip(pool.spawn(probe.worker("b"))))
      yield* quiesce
      yield* stop
      expect(yield* Fiber.join(waiter)).toBeInstanceOf(Errors.PoolClosed)
      expect(probe.startsOf("b")).toBe(0)
    }))

  it.effect("a waiter given a slot re-checks its name: a duplicate fails and hands the slot on", () =>
    Effect.gen(function*() {
      const { pool, probe, stop } = yield* running({ maxChildren: 2, wait: "infinity" })
      const a = yield* pool.spawn(probe.worker("a"))
      yield* pool.spawn(probe.worker("x"), { name: "x" })
      const twin = yield* caller(Effect.flip(pool.spawn(probe.worker("twin"), { name: "x" })))
      const next = yield* caller(pool.spawn(probe.worker("next")))
      yield* a.stop
      expect(yield* Fiber.join(twin)).toBeInstanceOf(Errors.DuplicateChild)
      yield* Fiber.join(next)
      expect([probe.startsOf("twin"), probe.startsOf("next"), yield* pool.size]).toEqual([0, 1, 2])
      yield* stop
    }))

  it.effect("a bad wait is InvalidOptions: on a call, and on the pool when it is declared", () =>
    Effect.gen(function*() {
      const { pool, probe, stop } = yield* running({ maxChildren: 1 })
      const bad = yield* Effect.flip(pool.spawn(probe.worker("a"), { wait: "-1 seconds" }))
      expect(bad).toBeInstanceOf(Errors.InvalidOptions)
      expect(bad.message).toContain("app/jobs")
      // One message saying what is expected, not one per alternative.
      expect(bad.message).toContain("must be \"infinity\" or a positive, finite duration")
      expect(bad.message).not.toContain("Expected")
      yield* stop
      const declared = withPool({ maxChildren: 1, wait: 0 })
      const error = yield* Effect.flip(declared.toplevel.start())
      expect(error).toMatchObject({ _tag: "InvalidOptions", path: "app/jobs" })
    }))
})

describe("the recipe: a queue feeding a pool of N workers", () => {
  it.effect("never more than N run; stopped, the intake puts back the item it held: nothing is dropped", () =>
    Effect.gen(function*() {
      let running = 0
      let most = 0
      const done: Array<number> = []
      const inboxes: Array<Queue.Queue<number>> = []
      const resize = (item: number) =>
        Effect.gen(function*() {
          most = Math.max(most, ++running)
          yield* Effect.sleep("1 second")
          done.push(item)
        }).pipe(Effect.ensuring(Effect.sync(() => void running--)))
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          const inbox = yield* scope.child("inbox", Effect.flatMap(Queue.unbounded<number>(), (queue) =>
            MainLoop.run(Lifecycle.settling, queue)))
          inboxes.push(inbox)
          const workers = yield* scope.pool("workers", { maxChildren: 4, wait: "infinity" })
          const handOver = (item: number) => workers.run(resize(item)).pipe(Effect.onInterrupt(() => Queue.offer(inbox, item)))
          yield* scope.child("intake", MainLoop.interruptOnSettle(Effect.forever(Effect.flatMap(Queue.take(inbox), handOver))))
        })
      )
      const toplevel = Toplevel.make("app", tree)
      const run = yield* launch(toplevel)
      yield* eventually(() => inboxes.length === 1, "started")
      const inbox = inboxes[0]!
      yield* Queue.offerAll(inbox, Array.from({ length: 14 }, (_, i) => i))
      for (let second = 0; second < 2; second++) {
        yield* quiesce
        yield* TestClock.adjust("1 second")
      }
      yield* quiesce
      // Two rounds of four are done, four more run; the intake holds item 12, waiting for a slot; 13 is queued.
      expect([done.length, running, most, yield* Queue.size(inbox)]).toEqual([8, 4, 4, 1])
      expect((yield* toplevel.snapshot).root.children?.[1]?.counts).toMatchObject({ running: 4, waiting: 1 })
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(run)
      // The four running finished within their budget; item 12 went back to the queue, beside 13.
      expect([done.length, most]).toEqual([12, 4])
      expect(yield* Queue.takeAll(inbox)).toEqual([13, 12])
    }))
})
