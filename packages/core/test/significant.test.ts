import { describe, expect, it } from "@effect/vitest"
import { Errors, System, Toplevel } from "@arbor/core"
import { Effect, Exit, Fiber } from "effect"
import { eventually, launch, Probe, quiesce, shutdown } from "./helpers.ts"

/** A batch: a permanent `db` and two significant transient jobs. */
const batch = (probe: Probe, autoShutdown: "anySignificant" | "allSignificant") =>
  Toplevel.make(
    "batch",
    System.make((scope) =>
      Effect.gen(function*() {
        yield* scope.child("db", probe.worker("db"))
        yield* scope.child("job1", probe.worker("job1"), { restart: "transient", significant: true })
        yield* scope.child("job2", probe.worker("job2"), { restart: "transient", significant: true })
      })
    ),
    { autoShutdown }
  )

const started = (probe: Probe) => eventually(() => probe.startsOf("job2") === 1, "batch started")

describe("significant children", () => {
  it.effect("anySignificant: the first significant child to finish shuts the system down normally, in reverse order", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = batch(probe, "anySignificant")
      const run = yield* launch(toplevel)
      yield* started(probe)
      probe.clear()
      yield* probe.end("job1", Exit.void)
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
      expect(probe.journal).toEqual(["exit job1 normal", "settle job2", "exit job2 normal", "settle db", "exit db normal"])
    }))

  it.effect("allSignificant: the system shuts down when the last significant child finishes", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = batch(probe, "allSignificant")
      const run = yield* launch(toplevel)
      yield* started(probe)
      yield* probe.end("job1", Exit.void)
      yield* quiesce
      expect(run.pollUnsafe()).toBeUndefined()
      yield* probe.end("job2", Exit.void)
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
      expect(probe.entries("exit")).toEqual(["exit job1 normal", "exit job2 normal", "exit db normal"])
    }))

  it.effect("a significant transient child that fails is restarted, not counted as finished", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = batch(probe, "anySignificant")
      const run = yield* launch(toplevel)
      yield* started(probe)
      yield* probe.crash("job1")
      yield* eventually(() => probe.startsOf("job1") === 2, "restarted with the group")
      expect(run.pollUnsafe()).toBeUndefined()
      yield* shutdown(toplevel, run)
    }))

  it.effect("bystander exits do not count: a significant temporary child stopped by a restart does not shut down", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make(
        "app",
        System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("db", probe.worker("db"))
            yield* scope.child("job", probe.worker("job"), { restart: "temporary", significant: true })
          })
        ),
        { autoShutdown: "anySignificant" }
      )
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("job") === 1, "started")
      yield* probe.crash("db")
      yield* eventually(() => probe.startsOf("db") === 2, "db restarted")
      yield* quiesce
      expect(run.pollUnsafe()).toBeUndefined()
      expect(probe.startsOf("job")).toBe(1)
      yield* shutdown(toplevel, run)
    }))

  it.effect("terminateChild of a significant child does not trigger autoShutdown", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = batch(probe, "anySignificant")
      const run = yield* launch(toplevel)
      yield* started(probe)
      yield* toplevel.terminateChild("batch/job1")
      yield* quiesce
      expect(run.pollUnsafe()).toBeUndefined()
      yield* shutdown(toplevel, run)
    }))

  it.effect("a subsystem that shuts itself down ends normally: a transient one is not restarted by its parent", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const job = System.make((scope) => scope.child("step", probe.worker("step"), { restart: "transient", significant: true }))
      const toplevel = Toplevel.make(
        "app",
        System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("db", probe.worker("db"))
            yield* scope.system("job", job, { restart: "transient", autoShutdown: "anySignificant" })
          })
        )
      )
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("step") === 1, "started")
      yield* probe.end("step", Exit.void)
      yield* quiesce
      expect((yield* toplevel.whichChildren("app")).map((c) => `${c.name}:${c.state}`)).toEqual(["db:running", "job:stopped"])
      expect(probe.startsOf("step")).toBe(1)
      yield* shutdown(toplevel, run)
    }))

  it.effect("rejects a significant permanent child, and a significant child under autoShutdown never, with InvalidOptions", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const cases = [
        { options: { significant: true }, autoShutdown: "anySignificant" as const, issue: "must be transient or temporary" },
        { options: { significant: true, restart: "temporary" as const }, autoShutdown: "never" as const, issue: "autoShutdown" }
      ]
      for (const { autoShutdown, issue, options } of cases) {
        const toplevel = Toplevel.make("app", System.make((scope) => scope.child("x", probe.worker("x"), options)), { autoShutdown })
        const error = yield* Effect.flip(toplevel.start())
        expect(error).toBeInstanceOf(Errors.InvalidOptions)
        expect(error).toMatchObject({ path: "app/x" })
        expect(error.message).toContain(issue)
      }
      expect(probe.startsOf("x")).toBe(0)
    }))
})
