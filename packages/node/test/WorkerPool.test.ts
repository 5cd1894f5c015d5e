/**
 * A pool of real worker threads: a job that spins forever costs one worker,
 * which is restarted, while the others keep working.
 */
import { describe, expect, it } from "@effect/vitest"
import { Errors, LifecycleEvent, System, Toplevel } from "@arbor/core"
import { WorkerPool } from "@arbor/node"
import { Cause, Effect, Exit, Fiber, Schedule, Stream } from "effect"
import type { Jobs } from "./fixtures/workers/jobs.ts"

const jobsModule = new URL("./fixtures/workers/jobs.ts", import.meta.url)

describe("WorkerPool", () => {
  it.live("a job that spins forever costs one worker: it is restarted and the others keep answering", () =>
    Effect.gen(function*() {
      const pool = WorkerPool.make<Jobs>(jobsModule, { size: 2, stall: { threshold: "1 second" } })
      const toplevel = Toplevel.make("app", System.make((scope) => scope.system("cruncher", pool)))
      const events: Array<LifecycleEvent.LifecycleEvent> = []
      const recorder = yield* Effect.forkChild(Stream.runForEach(toplevel.events, (event) => Effect.sync(() => events.push(event))), { startImmediately: true })
      const run = yield* Effect.forkChild(toplevel.start(), { startImmediately: true })
      const workerStarts = (n: number) =>
        Effect.suspend(() =>
          events.filter((event) => event._tag === "ChildStarted" && event.path.startsWith("app/cruncher/workers/")).length >= n
            ? Effect.void
            : Effect.fail("not yet")
        ).pipe(Effect.retry(Schedule.spaced("20 millis")), Effect.timeout("20 seconds"))
      yield* workerStarts(2)
      const spinning = yield* Effect.forkChild(Effect.exit(pool.run("spin")), { startImmediately: true })
      // While one worker spins, the other answers every job.
      const during = yield* Effect.forEach([10, 11, 12], (n) => pool.run("fib", n))
      const spun = yield* Fiber.join(spinning)
      // The stalled worker is back: two jobs at once run on both.
      yield* workerStarts(3)
      const after = yield* Effect.all([pool.run("fib", 15), pool.run("fib", 16)], { concurrency: 2 })
      toplevel.shutdownToken.signal()
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
      yield* Fiber.join(recorder)
      expect(during).toEqual([55, 89, 144])
      expect(after).toEqual([610, 987])
      expect(Exit.isFailure(spun) && Cause.squash(spun.cause)).toMatchObject({ _tag: "WorkerCallFailed", method: "spin" })
      const stalls = events.filter((event) => event._tag === "StallDetected")
      expect(stalls).toHaveLength(1)
      const stalled = stalls[0]!.path
      expect(stalled).toMatch(/^app\/cruncher\/workers\/[01]$/)
      const restarts = events.filter((event) => event._tag === "SystemRestarting")
      expect(restarts).toMatchObject([{ path: "app/cruncher/workers", child: stalled, strategy: "pool" }])
    }))

  it.live("a size below 1 is InvalidOptions at the pool's path", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Toplevel.make("app", System.make((scope) => scope.system("cruncher", WorkerPool.make(jobsModule, { size: 0 })))).start())
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      expect(error).toBeInstanceOf(Errors.InvalidOptions)
      expect(error).toMatchObject({ path: "app/cruncher" })
    }))
})
