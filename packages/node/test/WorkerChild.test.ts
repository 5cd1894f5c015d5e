/**
 * Worker children as real worker threads. Waits are bounded generously (two
 * noisy cores): the tests check behaviour, not speed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Errors, Lifecycle, LifecycleEvent, MainLoop, System, Toplevel } from "@arbor/core"
import { WorkerChild } from "@arbor/node"
import { Cause, Effect, Exit, Fiber } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { eventually, tagsAt, withTree } from "./children.ts"
import type { Jobs } from "./fixtures/workers/jobs.ts"

const jobsModule = new URL("./fixtures/workers/jobs.ts", import.meta.url)
const lifecycleModule = new URL("./fixtures/workers/lifecycle.ts", import.meta.url)

/** A main-thread child serving HTTP on a free loopback port; its value is the URL. */
const httpServer = Effect.gen(function*() {
  const server = createServer((_, response) => response.end("ok"))
  yield* Effect.acquireRelease(
    Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
    () => Effect.promise(() => new Promise((resolve) => server.close(resolve)))
  )
  return yield* MainLoop.spawn(Lifecycle.settling, `http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
})

describe("WorkerChild", () => {
  it.live("starts a worker, hands back a typed client, and settles it on shutdown", () =>
    Effect.gen(function*() {
      const child = WorkerChild.make<Jobs>(jobsModule, { workerData: { greeting: "hi" } })
      let client: WorkerChild.WorkerClient<Jobs> | undefined
      const { events, exit, result } = yield* withTree(
        System.make((scope) => Effect.map(scope.child("jobs", child), (jobs) => void (client = jobs))),
        () => client !== undefined,
        () => Effect.all([client!.call("fib", 20), client!.call("data")])
      )
      expect(result).toEqual([6765, { greeting: "hi" }])
      expect(Exit.isSuccess(exit)).toBe(true)
      // It ended on its own once asked: not interrupted.
      expect(tagsAt(events, "app/jobs")).toEqual(["ChildStarting", "ChildStarted", "ChildSettling", "ChildExited normal stopped"])
    }))

  it.live("the module's own messages on the worker's port are left alone", () =>
    Effect.gen(function*() {
      let client: WorkerChild.WorkerClient<Jobs> | undefined
      const { events, result } = yield* withTree(
        System.make((scope) => Effect.map(scope.child("jobs", WorkerChild.make<Jobs>(jobsModule)), (jobs) => void (client = jobs))),
        () => client !== undefined,
        () => Effect.all([client!.call("chatter"), client!.call("fib", 10)])
      )
      expect(result).toEqual(["said", 55])
      expect(tagsAt(events, "app/jobs")).toEqual(["ChildStarting", "ChildStarted", "ChildSettling", "ChildExited normal stopped"])
    }))

  it.live("a stalled worker is reported, terminated and restarted while a sibling keeps answering HTTP", () =>
    Effect.gen(function*() {
      let client: WorkerChild.WorkerClient<Jobs> | undefined
      let url: string | undefined
      const child = WorkerChild.make<Jobs>(jobsModule, { stall: { threshold: "1 second" } })
      const { events, result } = yield* withTree(
        System.make((scope) =>
          Effect.gen(function*() {
            client = yield* scope.child("jobs", child)
            url = yield* scope.child("http", httpServer)
          })
        ),
        () => url !== undefined,
        (events) =>
          Effect.gen(function*() {
            const spinning = yield* Effect.forkChild(Effect.exit(client!.call("spin")), { startImmediately: true })
            // The main thread keeps serving while the worker spins, is detected and is replaced.
            let answered = 0
            while (!restartedIn(events)) {
              const body = yield* Effect.promise(() => fetch(url!).then((response) => response.text()))
              if (body === "ok") answered++
              yield* Effect.sleep("50 millis")
              if (answered > 400) return yield* Effect.die(new Error("the worker was never restarted"))
            }
            const call = yield* Fiber.join(spinning)
            return { answered, call, after: yield* client!.call("fib", 10) }
          }),
        { strategy: "one_for_one" }
      )
      expect(result.answered).toBeGreaterThan(5)
      expect(result.after).toBe(55)
      expect(Exit.isFailure(result.call) && Cause.squash(result.call.cause)).toMatchObject({
        _tag: "WorkerCallFailed",
        reason: "the worker stalled and was terminated"
      })
      const stall = events.find((event) => event._tag === "StallDetected")
      expect(stall).toMatchObject({ path: "app/jobs" })
      expect((stall as LifecycleEvent.StallDetected).where).toMatch(/^spinForever \(file:.*jobs\.ts:\d+:\d+\)$/)
      expect((stall as LifecycleEvent.StallDetected).stalledForMillis).toBeGreaterThanOrEqual(1000)
      const exited = events.find((event) => event._tag === "ChildExited" && event.path === "app/jobs")
      expect(exited).toMatchObject({ exit: "failure", decision: "restart" })
      expect((exited as LifecycleEvent.ChildExited).message).toMatch(/^Stalled: app\/jobs: event loop stalled for \d+ ms \(threshold 1s\) at spinForever/)
      expect(tagsAt(events, "app/jobs").slice(0, 6)).toEqual([
        "ChildStarting", "ChildStarted", "StallDetected", "ChildExited failure restart", "ChildStarting", "ChildStarted"
      ])
      // The sibling ran throughout: started once, stopped only by the shutdown.
      expect(tagsAt(events, "app/http")).toEqual(["ChildStarting", "ChildStarted", "ChildSettling", "ChildExited normal stopped"])
    }))

  it.live("a worker that throws outside a call fails with WorkerCrashed and is restarted", () =>
    Effect.gen(function*() {
      let client: WorkerChild.WorkerClient<Jobs> | undefined
      const { events, result } = yield* withTree(
        System.make((scope) => Effect.map(scope.child("jobs", WorkerChild.make<Jobs>(jobsModule)), (jobs) => void (client = jobs))),
        () => client !== undefined,
        (events) =>
          Effect.gen(function*() {
            yield* client!.call("crash", "uncaught boom")
            yield* eventually(() => startsOf(events) === 2, "restarted")
            return yield* client!.call("fib", 12)
          })
      )
      expect(result).toBe(144)
      const exited = events.find((event) => event._tag === "ChildExited")
      expect(exited).toMatchObject({ path: "app/jobs", exit: "failure", decision: "restart" })
      expect((exited as LifecycleEvent.ChildExited).message).toBe("WorkerCrashed: app/jobs: worker exited with code 1: Error: uncaught boom")
    }))

  it.live("a handler that throws fails that call only; a non-zero exit code and a heap limit fail the child", () =>
    Effect.gen(function*() {
      let client: WorkerChild.WorkerClient<Jobs> | undefined
      const child = WorkerChild.make<Jobs>(jobsModule, { resourceLimits: { maxOldGenerationSizeMb: 16 } })
      const { events, result } = yield* withTree(
        System.make((scope) => Effect.map(scope.child("jobs", child), (jobs) => void (client = jobs))),
        () => client !== undefined,
        (events) =>
          Effect.gen(function*() {
            const failed = yield* Effect.flip(client!.call("fail", "bad input"))
            const stillThere = yield* client!.call("fib", 5)
            yield* client!.call("exit", 3)
            yield* eventually(() => startsOf(events) === 2, "restarted after exit")
            const hog = yield* Effect.flip(client!.call("hog"))
            yield* eventually(() => startsOf(events) === 3, "restarted after hog")
            return { failed, stillThere, hog }
          })
      )
      expect(result.failed).toMatchObject({ _tag: "WorkerCallFailed", method: "fail", reason: "the handler failed: Error: bad input" })
      expect(result.stillThere).toBe(5)
      expect(result.hog).toMatchObject({ _tag: "WorkerCallFailed", method: "hog", reason: "the worker ended before answering" })
      const messages = events.flatMap((event) => event._tag === "ChildExited" && event.decision === "restart" ? [event.message] : [])
      expect(messages[0]).toBe("WorkerCrashed: app/jobs: worker exited with code 3")
      expect(messages[1]).toMatch(/^WorkerCrashed: app\/jobs: worker exited with code 1: Error: .*(memory limit|out of memory)/i)
    }))

  it.live("a worker that does not settle within its budget is terminated", () =>
    Effect.gen(function*() {
      let client: WorkerChild.WorkerClient<Jobs> | undefined
      const { events, exit } = yield* withTree(
        System.make((scope) =>
          Effect.map(scope.child("jobs", WorkerChild.make<Jobs>(jobsModule), { shutdown: "300 millis" }), (jobs) => void (client = jobs))
        ),
        () => client !== undefined,
        // Started at once: its request is in flight when the shutdown reaches the worker.
        () => Effect.asVoid(Effect.forkDetach(client!.call("slow", 60_000), { startImmediately: true }))
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(tagsAt(events, "app/jobs")).toEqual(["ChildStarting", "ChildStarted", "ChildSettling", "ChildInterrupted", "ChildExited interrupted stopped"])
    }))

  it.live("inside the worker, Effect code sees Lifecycle.settling and its path", () =>
    Effect.gen(function*() {
      let client: WorkerChild.WorkerClient<{ readonly path: () => string }> | undefined
      const { events } = yield* withTree(
        System.make((scope) => Effect.map(scope.child("loop", WorkerChild.make<{ readonly path: () => string }>(lifecycleModule)), (c) => void (client = c))),
        () => client !== undefined,
        () => client!.call("path")
      ).pipe(Effect.tap(({ result }) => Effect.sync(() => expect(result).toBe("app/loop"))))
      expect(tagsAt(events, "app/loop")).toEqual(["ChildStarting", "ChildStarted", "ChildSettling", "ChildExited normal stopped"])
    }))

  it.live("bad options fail the startup with InvalidOptions naming the child, before any thread starts", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [URL, WorkerChild.Options, string]> = [
        [new URL("./fixtures/workers/missing.ts", import.meta.url), {}, `no such module`],
        [jobsModule, { resourceLimits: { maxOldGenerationSizeMb: -1 } }, `["resourceLimits"]["maxOldGenerationSizeMb"]`],
        [jobsModule, { stall: { threshold: "1 second", heartbeat: "900 millis" } }, `["stall"]["heartbeat"]`]
      ]
      for (const [module, options, where] of cases) {
        const exit = yield* Effect.exit(Toplevel.make("app", System.make((scope) => scope.child("jobs", WorkerChild.make(module, options)))).start())
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        expect(error).toBeInstanceOf(Errors.StartupFailed)
        const cause = Cause.squash((error as Errors.StartupFailed).cause as Cause.Cause<unknown>)
        expect(cause).toBeInstanceOf(Errors.InvalidOptions)
        expect((cause as Errors.InvalidOptions).path).toBe("app/jobs")
        expect((cause as Errors.InvalidOptions).issue).toContain(where)
      }
    }))
})

/** How many times app/jobs has started. */
const startsOf = (events: ReadonlyArray<LifecycleEvent.LifecycleEvent>) =>
  events.filter((event) => event._tag === "ChildStarted" && event.path === "app/jobs").length

const restartedIn = (events: ReadonlyArray<LifecycleEvent.LifecycleEvent>) => startsOf(events) >= 2
