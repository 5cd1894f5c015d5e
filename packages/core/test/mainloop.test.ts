import { describe, expect, it } from "@effect/vitest"
import { Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { Deferred, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { eventually, launch, Probe, quiesce, shutdown, withCapturedLogs } from "./helpers.ts"

/** A promise-based child whose settlement the test controls. */
const controlled = () => {
  let resolve!: () => void
  let reject!: (error: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

const tree = (probe: Probe, startup: Effect.Effect<MainLoop.MainLoop<void>, never, MainLoop.SpawnContext>, restart: "permanent" | "transient") =>
  Toplevel.make("app", System.make((scope) =>
    Effect.gen(function*() {
      yield* scope.child("watch", probe.worker("watch"))
      yield* scope.child("js", Effect.andThen(probe.record("start js"), startup), { restart })
    })
  ))

describe("MainLoop.fromPromise", () => {
  it.effect("a promise that resolves is a normal exit: a transient child stays down", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const p = controlled()
      const toplevel = tree(probe, MainLoop.fromPromise(() => p.promise), "transient")
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.journal.includes("start js"), "started")
      p.resolve()
      yield* Effect.promise(() => p.promise)
      yield* quiesce
      yield* shutdown(toplevel, run)
      expect(probe.journal.filter((e) => e === "start js")).toHaveLength(1)
    }))

  it.effect("a promise that rejects is a failure: a transient child is restarted", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const attempts: Array<ReturnType<typeof controlled>> = []
      const startup = MainLoop.fromPromise(() => {
        const p = controlled()
        attempts.push(p)
        return p.promise
      })
      const toplevel = tree(probe, startup, "transient")
      const run = yield* launch(toplevel)
      yield* eventually(() => attempts.length === 1, "started")
      attempts[0]!.reject(new Error("lost connection"))
      yield* eventually(() => attempts.length === 2, "restarted")
      toplevel.shutdownToken.signal()
      yield* eventually(() => attempts.length === 2, "stopping")
      attempts[1]!.resolve()
      yield* Fiber.join(run)
    }))

  it.effect("the signal aborts when the child is asked to settle", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const startup = MainLoop.fromPromise((signal) =>
        new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }))
      )
      const toplevel = tree(probe, startup, "permanent")
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.journal.includes("start js"), "started")
      yield* shutdown(toplevel, run)
    }))

  it.effect("an AbortError after the abort is a normal stop; another error after it is a failure", () =>
    Effect.gen(function*() {
      const outcomes: Array<string> = []
      const child = (error: () => unknown) =>
        Effect.gen(function*() {
          const loop = yield* MainLoop.fromPromise((signal) =>
            new Promise<void>((_, reject) => signal.addEventListener("abort", () => reject(error()), { once: true }))
          )
          yield* Effect.forkDetach(Effect.andThen(Fiber.await(loop.fiber), (exit) => Effect.sync(() => outcomes.push(Exit.isSuccess(exit) ? "normal" : "failure"))))
          return loop
        })
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("abort", child(() => new DOMException("aborted", "AbortError")))
          yield* scope.child("other", child(() => new Error("cleanup failed")))
        })
      ))
      const run = yield* launch(toplevel)
      yield* Effect.yieldNow
      yield* shutdown(toplevel, run)
      yield* eventually(() => outcomes.length === 2, "both exited")
      expect(outcomes).toEqual(["failure", "normal"])
    }))

  it.effect("the signal also aborts when the child is interrupted", () =>
    Effect.gen(function*() {
      const aborted = yield* Deferred.make<void>()
      const startup = MainLoop.fromPromise((signal) =>
        new Promise<void>(() => signal.addEventListener("abort", () => Deferred.doneUnsafe(aborted, Exit.void), { once: true }))
      )
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child("js", startup, { shutdown: "brutal" }).pipe(Effect.asVoid)))
      const run = yield* launch(toplevel)
      yield* Effect.yieldNow
      yield* shutdown(toplevel, run)
      yield* Deferred.await(aborted)
    }))
})

describe("Lifecycle", () => {
  it.effect("tells a child its name and path, and a restarted child starts un-settled", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const seen: Array<string> = []
      const startup = Effect.gen(function*() {
        const lifecycle = yield* Lifecycle.Lifecycle
        seen.push(`${lifecycle.name} ${lifecycle.path} ${yield* lifecycle.isSettling} ${lifecycle.signal.aborted}`)
        return yield* probe.worker("inner")
      })
      const sub = System.make((scope) => scope.child("leaf", startup).pipe(Effect.asVoid))
      const toplevel = Toplevel.make("app", System.make((scope) => scope.system("sub", sub)))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("inner") === 1, "started")
      yield* probe.crash("inner")
      yield* eventually(() => probe.startsOf("inner") === 2, "restarted")
      yield* shutdown(toplevel, run)
      expect(seen).toEqual(["leaf app/sub/leaf false false", "leaf app/sub/leaf false false"])
    }))

  it.effect("a system's start function sees the system's own lifecycle", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const remember = Lifecycle.Lifecycle.useSync((lifecycle) => void seen.push(lifecycle.path))
      const sub = System.make(() => remember)
      const toplevel = Toplevel.make("app", System.make((scope) => Effect.andThen(remember, scope.system("sub", sub))))
      const run = yield* launch(toplevel)
      yield* eventually(() => seen.length === 2, "both started")
      expect(seen).toEqual(["app", "app/sub"])
      yield* shutdown(toplevel, run)
    }))
})

describe("Lifecycle.settling", () => {
  it.effect("resumes every fiber waiting on it, in order, also after waiters that gave up", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const waiters = Effect.gen(function*() {
        // Waiters that give up first (a loop racing the settle request against a timeout).
        for (let i = 0; i < 3; i++) yield* Effect.timeoutOption(Lifecycle.settling, "1 millis")
        const first = yield* Effect.forkChild(Effect.andThen(Lifecycle.settling, probe.record("settled first")))
        const second = yield* Effect.forkChild(Effect.andThen(Lifecycle.settling, probe.record("settled second")))
        return yield* MainLoop.run(Effect.andThen(Fiber.joinAll([first, second]), probe.record("settled all")))
      })
      const toplevel = Toplevel.make("app", System.make((scope) => Effect.asVoid(scope.child("waiters", waiters))))
      const run = yield* launch(toplevel)
      yield* quiesce
      yield* TestClock.adjust("3 millis")
      yield* quiesce
      expect(probe.journal).toEqual([])
      yield* shutdown(toplevel, run)
      expect(probe.journal).toEqual(["settled first", "settled second", "settled all"])
    }))
})

describe("a child's scope", () => {
  it.effect("takes scopes forked from it along when it closes, after the child's main loop ended", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const startup = Effect.gen(function*() {
        const inner = yield* Scope.fork(yield* Scope.Scope, "parallel")
        yield* Scope.addFinalizer(inner, probe.record("inner released"))
        yield* Effect.addFinalizer(() => probe.record("outer released"))
        return yield* MainLoop.run(Effect.andThen(Lifecycle.settling, probe.record("main ended")))
      })
      const toplevel = Toplevel.make("app", System.make((scope) => Effect.asVoid(scope.child("scoped", startup))))
      const run = yield* launch(toplevel)
      yield* quiesce
      yield* shutdown(toplevel, run)
      expect(probe.journal).toEqual(["main ended", "outer released", "inner released"])
    }))
})

describe("MainLoop.run", () => {
  it.effect("runs the body on the child's own fiber once the startup returned; it settles, crashes and restarts like any main loop", () =>
    Effect.gen(function*() {
      const journal: Array<string> = []
      let crash: Deferred.Deferred<void> | undefined
      const worker = Effect.gen(function*() {
        const self = yield* Effect.withFiber(Effect.succeed)
        journal.push("startup")
        crash = Deferred.makeUnsafe<void>()
        const gate = crash
        return yield* MainLoop.run(Effect.gen(function*() {
          journal.push((yield* Effect.withFiber(Effect.succeed)) === self ? "body on the child's fiber" : "body elsewhere")
          yield* Effect.raceFirst(Effect.andThen(Deferred.await(gate), Effect.fail("crash")), Lifecycle.settling)
          journal.push("settled")
        }), "value")
      })
      const seen: Array<unknown> = []
      const toplevel = Toplevel.make("app", System.make((scope) => Effect.map(scope.child("w", worker), (v) => void seen.push(v))))
      const run = yield* launch(toplevel)
      yield* eventually(() => journal.length === 2, "started")
      yield* Deferred.succeed(crash!, undefined)
      yield* eventually(() => journal.length === 4, "restarted")
      yield* shutdown(toplevel, run)
      expect(journal).toEqual(["startup", "body on the child's fiber", "startup", "body on the child's fiber", "settled"])
      expect(seen).toEqual(["value", "value"])
    }))

  it.effect("fibers the body forks stop with the child", () =>
    Effect.gen(function*() {
      const forked: Array<Fiber.Fiber<unknown>> = []
      const worker = MainLoop.run(Effect.gen(function*() {
        forked.push(yield* Effect.forkChild(Effect.never))
        forked.push(yield* Effect.forkScoped(Effect.never))
        yield* Lifecycle.settling
      }))
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child("w", worker)))
      const run = yield* launch(toplevel)
      yield* eventually(() => forked.length === 2, "forked")
      yield* shutdown(toplevel, run)
      expect(forked.every((fiber) => fiber.pollUnsafe() !== undefined)).toBe(true)
    }))

  it.effect("a MainLoop.run made on another fiber than the child's is a defect of its startup", () =>
    Effect.gen(function*() {
      const elsewhere = Effect.flatMap(Effect.forkChild(MainLoop.run(Effect.never)), Fiber.join)
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child("w", elsewhere)))
      const error = yield* Effect.flip(toplevel.start())
      expect(error._tag).toBe("StartupFailed")
      expect(error.message).toContain("MainLoop.run works only when returned by the child's startup function")
    }))
})

describe("MainLoop.interruptOnSettle", () => {
  it.effect("a body that never looks at settling stops at once when asked to settle, normally, its finalizers run", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const journal: Array<string> = []
        const body = Effect.ensuring(
          Effect.andThen(Effect.sync(() => journal.push("working")), Effect.never),
          Effect.sync(() => journal.push("released"))
        )
        const toplevel = Toplevel.make("app", System.make((scope) => scope.child("poller", MainLoop.interruptOnSettle(body, "value"))))
        const events = yield* Effect.forkChild(Stream.runCollect(toplevel.events), { startImmediately: true })
        const run = yield* launch(toplevel)
        yield* eventually(() => journal.length === 1, "working")
        // No clock moves: the stop does not wait for the 5-second budget.
        yield* shutdown(toplevel, run)
        expect(journal).toEqual(["working", "released"])
        const exited = (yield* Fiber.join(events)).filter((event) => event._tag === "ChildExited")
        expect(exited).toMatchObject([{ path: "app/poller", exit: "normal", decision: "stopped" }])
        expect(lines.filter((line) => line.level === "Warn")).toEqual([])
      })
    ))

  it.effect("a body that fails crashes the child, which is restarted with its value", () =>
    Effect.gen(function*() {
      let starts = 0
      const seen: Array<number> = []
      const crashy = Effect.suspend(() => {
        const start = ++starts
        return MainLoop.interruptOnSettle(start === 1 ? Effect.fail(new Error("boom")) : Effect.never, start)
      })
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          seen.push(yield* scope.child("crashy", crashy))
          yield* scope.child("after", MainLoop.interruptOnSettle(Effect.never))
        })
      ))
      const run = yield* launch(toplevel)
      yield* eventually(() => seen.length === 2, "restarted with its group")
      yield* shutdown(toplevel, run)
      expect(seen).toEqual([1, 2])
    }))
})
