/**
 * ChildRuntime: effects run from plain callbacks are fibers of the child.
 */
import { describe, expect, it } from "@effect/vitest"
import { ChildRuntime, Lifecycle, MainLoop, System, Toplevel, type TreeSnapshot } from "@arbor/core"
import { Context, Deferred, Effect, Exit, Fiber, Option, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { eventually, launch, quiesce, shutdown, withCapturedLogs } from "./helpers.ts"

class Greeting extends Context.Service<Greeting, string>()("test/Greeting") {}

/** What a test hands to the child's callbacks: the runtime of the child's latest start. */
interface Handle {
  runtime?: ChildRuntime.ChildRuntime<Lifecycle.Lifecycle | Greeting>
  starts: number
}

/**
 * A child that makes a runtime in its startup and, asked to settle, waits for
 * the fibers in flight; `crashes` ends its main loop with a failure instead.
 */
const callbackChild = (handle: Handle, options?: ChildRuntime.Options) =>
  Effect.gen(function*() {
    handle.runtime = yield* ChildRuntime.make<Greeting>(options)
    handle.starts++
    const runtime = handle.runtime
    return yield* MainLoop.run(Effect.andThen(Lifecycle.settling, runtime.awaitEmpty))
  })

const tree = (handle: Handle, options?: ChildRuntime.Options, childOptions?: System.ChildOptions) =>
  Toplevel.make("app", System.make((scope) =>
    Effect.provideService(scope.child("server", callbackChild(handle, options), childOptions), Greeting, "hello")
  ))

const nodeOf = (snapshot: TreeSnapshot.TreeSnapshot) => snapshot.root.children?.[0]

describe("ChildRuntime", () => {
  it.effect("its fibers see the child's services and Lifecycle, are counted in the snapshot, and stop with the child", () =>
    Effect.gen(function*() {
      const handle: Handle = { starts: 0 }
      const toplevel = tree(handle)
      const run = yield* launch(toplevel)
      yield* eventually(() => handle.starts === 1, "started")
      const seen = Deferred.makeUnsafe<string>()
      const fiber = handle.runtime!.runFork(Effect.gen(function*() {
        const lifecycle = yield* Lifecycle.Lifecycle
        const scope = yield* Effect.serviceOption(Scope.Scope)
        yield* Deferred.succeed(seen, `${yield* Greeting} from ${lifecycle.path}; scope: ${Option.isSome(scope)}`)
        return yield* Effect.never
      }))
      expect(yield* Deferred.await(seen)).toBe("hello from app/server; scope: false")
      expect(nodeOf(yield* toplevel.snapshot)?.callbackFibers).toBe(1)
      expect(yield* handle.runtime!.size).toBe(1)
      // Asked to settle, the child waits for its fiber in flight; its budget runs out, and the fiber is interrupted.
      toplevel.shutdownToken.signal()
      yield* quiesce
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("5 seconds")
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
      expect(Exit.hasInterrupts(yield* Fiber.await(fiber))).toBe(true)
      expect(nodeOf(yield* toplevel.snapshot)).toBeUndefined()
      // A callback that fires after the child stopped gets a fiber interrupted before it ran.
      let ran = false
      const late = handle.runtime!.runFork(Effect.sync(() => (ran = true)))
      expect(Exit.hasInterrupts(yield* Fiber.await(late))).toBe(true)
      expect(ran).toBe(false)
    }))

  it.effect("a main loop asked to settle lets the fibers in flight finish within the budget", () =>
    Effect.gen(function*() {
      const handle: Handle = { starts: 0 }
      const toplevel = tree(handle)
      const events = yield* Effect.forkChild(Stream.runCollect(toplevel.events), { startImmediately: true })
      const run = yield* launch(toplevel)
      yield* eventually(() => handle.starts === 1, "started")
      const request = handle.runtime!.runPromise(Effect.as(Effect.sleep("2 seconds"), "answered"))
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* TestClock.adjust("2 seconds")
      expect(yield* Effect.promise(() => request)).toBe("answered")
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
      const tags = (yield* Fiber.join(events)).map((event) => event._tag)
      expect(tags).not.toContain("ChildInterrupted")
    }))

  it.effect("its fibers are interrupted when the child ends before a restart; the new start makes a new runtime", () =>
    Effect.gen(function*() {
      const handle: Handle = { starts: 0 }
      const toplevel = tree(handle, { onFailure: "crash" })
      const run = yield* launch(toplevel)
      yield* eventually(() => handle.starts === 1, "started")
      const first = handle.runtime!
      const waiting = first.runFork(Effect.never)
      first.runFork(Effect.fail(new Error("handler failed")))
      yield* eventually(() => handle.starts === 2, "restarted")
      expect(Exit.hasInterrupts(yield* Fiber.await(waiting))).toBe(true)
      expect(nodeOf(yield* toplevel.snapshot)).toMatchObject({ state: "running", restarts: 1, callbackFibers: 0 })
      yield* shutdown(toplevel, run)
    }))

  it.effect("onFailure crash: the child ends with the fiber's failure, logged and restarted as its policy says", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const handle: Handle = { starts: 0 }
        const toplevel = tree(handle, { onFailure: "crash" })
        const events = yield* Effect.forkChild(Stream.runCollect(toplevel.events), { startImmediately: true })
        const run = yield* launch(toplevel)
        yield* eventually(() => handle.starts === 1, "started")
        handle.runtime!.runFork(Effect.fail(new Error("handler failed")))
        yield* eventually(() => handle.starts === 2, "restarted")
        yield* shutdown(toplevel, run)
        const exited = (yield* Fiber.join(events)).find((event) => event._tag === "ChildExited")
        expect(exited).toMatchObject({ path: "app/server", exit: "failure", message: "Error: handler failed", decision: "restart" })
        const warning = lines.find((line) => line.level === "Warn")
        expect(warning?.text).toBe("app/server: exited abnormally (failure); restarting (permanent)")
        expect(warning?.cause).toContain("handler failed")
      })
    ))

  it.effect("onFailure log (the default): the failure is a warning with the child's path; the child runs on", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const handle: Handle = { starts: 0 }
        const toplevel = tree(handle)
        const run = yield* launch(toplevel)
        yield* eventually(() => handle.starts === 1, "started")
        const fiber = handle.runtime!.runFork(Effect.fail(new Error("handler failed")))
        yield* Fiber.await(fiber)
        const warning = lines.find((line) => line.level === "Warn")
        expect(warning).toMatchObject({ path: "app/server", text: "app/server: a fiber run from a callback failed" })
        expect(warning?.cause).toContain("handler failed")
        expect(nodeOf(yield* toplevel.snapshot)).toMatchObject({ state: "running", restarts: 0, callbackFibers: 0 })
        // A promise's failure is its caller's: it rejects, and is neither logged nor a crash.
        const rejected = yield* Effect.promise(() => handle.runtime!.runPromise(Effect.fail(new Error("no"))).catch((e: Error) => e.message))
        expect(rejected).toBe("no")
        expect(lines.filter((line) => line.level === "Warn")).toHaveLength(1)
        yield* shutdown(toplevel, run)
      })
    ))

  it.effect("bad options fail the child's startup with InvalidOptions", () =>
    Effect.gen(function*() {
      const handle: Handle = { starts: 0 }
      const toplevel = tree(handle, { onFailure: "explode" as "crash" })
      const error = yield* Effect.flip(toplevel.start())
      expect(error._tag).toBe("StartupFailed")
      expect(String(error.cause)).toContain("InvalidOptions")
    }))
})
