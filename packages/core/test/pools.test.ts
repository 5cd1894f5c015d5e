import { describe, expect, it } from "@effect/vitest"
import { Errors, MainLoop, Pool, System, Toplevel } from "@arbor/core"
import { Deferred, Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { eventually, launch, Probe, quiesce, shutdown } from "./helpers.ts"

/** A tree whose only child is a pool with `options`; the test gets the pool's handle of each start. */
const withPool = (options?: Pool.PoolOptions) => {
  const pools: Array<Pool.Pool> = []
  const tree = System.make((scope) => Effect.map(scope.pool("jobs", options), (pool) => void pools.push(pool)))
  return { toplevel: Toplevel.make("app", tree), pools }
}

const started = (pools: Array<Pool.Pool>, n = 1) =>
  Effect.map(eventually(() => pools.length === n, `pool start ${n}`), () => pools[n - 1]!)

describe("pools", () => {
  it.effect("spawn starts a child and hands back its value; await resumes with its exit; temporary ones are forgotten", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const { pools, toplevel } = withPool()
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      const child = yield* pool.spawn(probe.worker("x", { value: 42 }), { name: "x" })
      expect([child.value, child.path, yield* pool.size]).toEqual([42, "app/jobs/x", 1])
      yield* probe.crash("x")
      const exit = yield* child.await
      expect(Exit.isFailure(exit)).toBe(true)
      yield* quiesce
      expect(yield* pool.size).toBe(0)
      expect(probe.startsOf("x")).toBe(1)
      yield* shutdown(toplevel, run)
    }))

  it.effect("run forks a fire-and-forget task and names children by a counter", () =>
    Effect.gen(function*() {
      const { pools, toplevel } = withPool()
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      const done = yield* Deferred.make<string>()
      const task = yield* pool.run(Deferred.succeed(done, "ran"))
      expect(yield* Deferred.await(done)).toBe("ran")
      expect(Exit.isSuccess(yield* task.await)).toBe(true)
      const second = yield* pool.run(Effect.void)
      expect([task.name, second.name]).toEqual(["1", "2"])
      yield* shutdown(toplevel, run)
    }))

  it.effect("transient children are restarted after a failure, not after a normal exit", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const { pools, toplevel } = withPool({ restart: "transient" })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      const child = yield* pool.spawn(probe.worker("t"))
      yield* probe.crash("t")
      yield* eventually(() => probe.startsOf("t") === 2, "t restarted")
      yield* probe.end("t", Exit.void)
      const exit = yield* child.await
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(probe.startsOf("t")).toBe(2)
      yield* shutdown(toplevel, run)
    }))

  it.effect("maxChildren: one more spawn fails with PoolFull; restarting children still count", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const { pools, toplevel } = withPool({ maxChildren: 2, restart: "transient", backoff: Schedule.spaced("1 second") })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      yield* pool.spawn(probe.worker("a"))
      yield* pool.spawn(probe.worker("b"))
      const full = yield* Effect.flip(pool.spawn(probe.worker("c")))
      expect(full).toBeInstanceOf(Errors.PoolFull)
      expect(full.message).toBe("app/jobs: pool is full (2 children)")
      yield* probe.crash("a")
      yield* quiesce
      expect(yield* pool.size).toBe(2)
      expect(yield* Effect.flip(pool.spawn(probe.worker("c")))).toBeInstanceOf(Errors.PoolFull)
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.startsOf("a") === 2, "a restarted")
      expect(yield* pool.size).toBe(2)
      yield* probe.end("b", Exit.void)
      yield* eventually(() => probe.entries("exit").includes("exit b normal"), "b ended")
      yield* quiesce
      yield* pool.spawn(probe.worker("c"))
      expect(yield* pool.size).toBe(2)
      yield* shutdown(toplevel, run)
    }))

  it.effect("maxChildren: 0 is accepted and refuses every child with PoolFull; a negative or fractional bound is InvalidOptions", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const { pools, toplevel } = withPool({ maxChildren: 0 })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      expect(yield* Effect.flip(pool.spawn(probe.worker("a")))).toEqual(new Errors.PoolFull({ path: "app/jobs", maxChildren: 0 }))
      expect(yield* Effect.flip(pool.run(Effect.void))).toBeInstanceOf(Errors.PoolFull)
      // A slot never comes free: a caller willing to wait is refused at once too.
      expect(yield* Effect.flip(pool.spawn(probe.worker("a"), { wait: "infinity" }))).toBeInstanceOf(Errors.PoolFull)
      expect([probe.startsOf("a"), yield* pool.size]).toEqual([0, 0])
      yield* shutdown(toplevel, run)
      for (const maxChildren of [-1, 1.5]) {
        const bad = yield* Effect.flip(withPool({ maxChildren }).toplevel.start())
        expect(bad).toBeInstanceOf(Errors.InvalidOptions)
        expect(bad.message).toContain("app/jobs")
        expect(bad.message).toContain("maxChildren")
      }
    }))

  it.effect("each child follows its own backoff schedule", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const { pools, toplevel } = withPool({
        restart: "transient",
        backoff: Schedule.exponential("1 second"),
        intensity: { maxRestarts: 10, within: "1 minute" }
      })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      yield* pool.spawn(probe.worker("a"))
      yield* pool.spawn(probe.worker("b"))
      yield* probe.crash("a")
      yield* quiesce
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.startsOf("a") === 2, "a restarted after 1 s")
      yield* probe.crash("a")
      yield* probe.crash("b")
      yield* quiesce
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.startsOf("b") === 2, "b restarted after its first delay")
      expect(probe.startsOf("a")).toBe(2)
      const states = (yield* toplevel.whichChildren("app/jobs")).map((c) => `${c.name}:${c.state}`)
      expect(states).toEqual(["1:restarting", "2:running"])
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.startsOf("a") === 3, "a restarted after its second delay")
      yield* shutdown(toplevel, run)
    }))

  it.effect("shutdown settles all children in parallel: bounded by the budget, not the sum, and reports the forced", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const { pools, toplevel } = withPool({ shutdown: "10 seconds" })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      yield* pool.spawn(probe.worker("polite"))
      for (const name of ["stubborn1", "stubborn2", "stubborn3"]) yield* pool.spawn(probe.worker(name, { settles: false }))
      toplevel.shutdownToken.signal()
      yield* eventually(() => probe.entries("settle").length === 4, "all four asked to settle at once")
      yield* TestClock.adjust("9999 millis")
      yield* quiesce
      expect(run.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
      expect(yield* pool.shutdownReport).toEqual({ stopped: 4, forced: 3 })
      expect(probe.entries("exit").sort()).toEqual([
        "exit polite normal",
        "exit stubborn1 interrupted",
        "exit stubborn2 interrupted",
        "exit stubborn3 interrupted"
      ])
    }))

  it.effect("a child's stop settles it and it is not restarted; spawn on a stopped pool fails with PoolClosed", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const { pools, toplevel } = withPool({ restart: "permanent" })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      const child = yield* pool.spawn(probe.worker("p"))
      yield* child.stop
      expect(probe.journal).toEqual(["start p", "settle p", "exit p normal"])
      expect(yield* pool.size).toBe(0)
      expect(Exit.isSuccess(yield* child.await)).toBe(true)
      yield* shutdown(toplevel, run)
      expect(yield* Effect.flip(pool.spawn(probe.worker("late")))).toBeInstanceOf(Errors.PoolClosed)
      expect(probe.startsOf("late")).toBe(0)
    }))

  it.effect("names are unique among running children; a startup failure is the caller's, not a restart", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const { pools, toplevel } = withPool({ restart: "transient" })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      yield* pool.spawn(probe.worker("x"), { name: "x" })
      expect(yield* Effect.flip(pool.spawn(probe.worker("x2"), { name: "x" }))).toBeInstanceOf(Errors.DuplicateChild)
      expect(yield* Effect.flip(pool.spawn(probe.worker("bad"), { name: "a/b" }))).toBeInstanceOf(Errors.InvalidOptions)
      const failed = yield* Effect.flip(pool.spawn(probe.worker("f", { setup: Effect.fail("no") })))
      expect(failed).toBeInstanceOf(Errors.StartupFailed)
      expect(failed).toMatchObject({ path: "app/jobs/1" })
      yield* quiesce
      expect([probe.startsOf("f"), yield* pool.size]).toEqual([1, 1])
      yield* shutdown(toplevel, run)
    }))

  it.effect("too many restarts in the pool fail the pool; its system restarts it as a new, empty pool", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const { pools, toplevel } = withPool({ restart: "transient", intensity: { maxRestarts: 1, within: "1 minute" } })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      yield* pool.spawn(probe.worker("a"))
      yield* pool.spawn(probe.worker("b"))
      yield* probe.crash("a")
      yield* eventually(() => probe.startsOf("a") === 2, "a restarted once")
      yield* probe.crash("a")
      const second = yield* started(pools, 2)
      expect(yield* second.size).toBe(0)
      expect(probe.entries("exit")).toContain("exit b normal")
      expect(yield* Effect.flip(pool.spawn(probe.worker("c")))).toBeInstanceOf(Errors.PoolClosed)
      expect(yield* pool.shutdownReport).toEqual({ stopped: 1, forced: 0 })
      yield* shutdown(toplevel, run)
    }))

  it.effect("no fiber of a pool child outlives the pool", () =>
    Effect.gen(function*() {
      const { pools, toplevel } = withPool({ shutdown: "brutal" })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      const forked: Array<Fiber.Fiber<unknown>> = []
      yield* pool.spawn(Effect.gen(function*() {
        forked.push(yield* Effect.forkChild(Effect.never))
        forked.push(yield* Effect.forkScoped(Effect.never))
        return yield* MainLoop.spawn(Effect.never)
      }))
      yield* shutdown(toplevel, run)
      expect(forked.map((fiber) => fiber.pollUnsafe() !== undefined)).toEqual([true, true])
    }))

  it.effect("holds 10,000 children; stopping one by path leaves the others running", () =>
    Effect.gen(function*() {
      const { pools, toplevel } = withPool({ shutdown: "1 second" })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      for (let i = 0; i < 10_000; i++) yield* pool.spawn(MainLoop.spawn(Effect.never))
      expect((yield* toplevel.countChildren("app/jobs")).active).toBe(10_000)
      const terminated = yield* Effect.forkChild(toplevel.terminateChild("app/jobs/5000"))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(terminated)
      expect(yield* pool.size).toBe(9_999)
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* TestClock.adjust("1 second")
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
      expect(yield* pool.shutdownReport).toEqual({ stopped: 9_999, forced: 9_999 })
    }))
})

describe("pool children's deadlines", () => {
  it.effect("startTimeout bounds each child's startup: spawn fails with StartupFailed caused by StartupTimeout", () =>
    Effect.gen(function*() {
      const { pools, toplevel } = withPool({ startTimeout: "2 seconds" })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      const spawning = yield* Effect.forkChild(Effect.flip(pool.spawn(Effect.andThen(Effect.never, MainLoop.spawn(Effect.never)))))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(spawning)
      expect(error).toBeInstanceOf(Errors.StartupFailed)
      expect(error.message).toContain("startup did not complete within 2s")
      expect(yield* pool.size).toBe(0)
      yield* shutdown(toplevel, run)
    }))

  it.effect("liveness: a child that stops feeding is taken for hung and ends with Hung", () =>
    Effect.gen(function*() {
      const { pools, toplevel } = withPool({ liveness: { deadline: "3 seconds" } })
      const run = yield* launch(toplevel)
      const pool = yield* started(pools)
      const child = yield* pool.run(Effect.never)
      yield* TestClock.adjust("3 seconds")
      const exit = yield* child.await
      expect(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" && exit.cause.reasons[0].error).toBeInstanceOf(Errors.Hung)
      expect(yield* pool.size).toBe(0)
      yield* shutdown(toplevel, run)
    }))
})
