import { describe, expect, it } from "@effect/vitest"
import { Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { Effect, Exit, Fiber, Logger, References } from "effect"
import { TestClock } from "effect/testing"
import { eventually, launch, Probe, shutdown, withCapturedLogs } from "./helpers.ts"

describe("logging", () => {
  it.effect("an abnormal exit is logged as a warning with the child's path and the pretty cause", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sub = System.make((scope) => scope.child("crashy", probe.worker("crashy")).pipe(Effect.asVoid))
        const toplevel = Toplevel.make("app", System.make((scope) => scope.system("sub", sub)))
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("crashy") === 1, "started")
        yield* probe.crash("crashy")
        yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
        yield* shutdown(toplevel, run)
        const warning = lines.find((line) => line.level === "Warn")
        expect(warning).toMatchObject({ path: "app/sub/crashy", text: "app/sub/crashy: exited abnormally (failure); restarting (permanent)" })
        expect(warning?.cause).toContain("Error: crashy crashed")
        expect(lines.some((line) => line.level === "Info" && line.path === "app/sub" && line.text.includes("restarting all children"))).toBe(true)
      })
    ))

  it.effect("a defect and an outside interruption are logged too, also for a temporary child that is not restarted", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const toplevel = Toplevel.make("app", System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("dies", probe.worker("dies"), { restart: "temporary" })
            yield* scope.child("interrupted", probe.worker("interrupted"), { restart: "temporary" })
          })
        ))
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("interrupted") === 1, "started")
        yield* probe.end("dies", Exit.die(new Error("bug")))
        yield* probe.interrupt("interrupted")
        yield* eventually(() => lines.filter((line) => line.level === "Warn").length === 2, "both logged")
        yield* shutdown(toplevel, run)
        const warnings = lines.filter((line) => line.level === "Warn").map((line) => line.text)
        expect(warnings).toEqual([
          "app/dies: exited abnormally (defect); not restarted (temporary)",
          "app/interrupted: exited abnormally (interrupted); not restarted (temporary)"
        ])
      })
    ))

  it.effect("a failed startup is logged as an error at the child's path", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const toplevel = Toplevel.make("app", System.make((scope) => scope.child("db", Effect.fail(new Error("refused"))).pipe(Effect.asVoid)))
        yield* Effect.exit(toplevel.start())
        const error = lines.find((line) => line.level === "Error" && line.path === "app/db")
        expect(error?.text).toBe("app/db: startup failed")
        expect(error?.cause).toContain("Error: refused")
      })
    ))

  it.effect("escalation is logged as an error with the last cause", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const toplevel = Toplevel.make("app", System.make((scope) => scope.child("crashy", probe.worker("crashy")).pipe(Effect.asVoid)), {
          intensity: { maxRestarts: 0, within: "1 second" }
        })
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("crashy") === 1, "started")
        yield* probe.crash("crashy")
        yield* Fiber.await(run)
        const error = lines.find((line) => line.level === "Error" && line.path === "app")
        expect(error?.text).toContain("more than 0 restarts within 1s")
        expect(error?.cause).toContain("crashy crashed")
      })
    ))

  it.effect("a child interrupted after its budget is logged as a warning", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const toplevel = Toplevel.make("app", System.make((scope) => scope.child("stubborn", probe.worker("stubborn", { settles: false }), { shutdown: "1 second" }).pipe(Effect.asVoid)))
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("stubborn") === 1, "started")
        toplevel.shutdownToken.signal()
        yield* eventually(() => probe.journal.includes("settle stubborn"), "asked to settle")
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(run)
        expect(lines.filter((line) => line.level === "Warn").map((line) => line.text)).toEqual([
          "app/stubborn: did not settle within 1s; interrupting"
        ])
      })
    ))

  it.effect("a child that crashes while its system is busy stopping others is still logged", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const slow = MainLoop.spawn(Lifecycle.settling.pipe(Effect.andThen(probe.record("slow settling")), Effect.andThen(Effect.sleep("1 second"))))
        const toplevel = Toplevel.make("app", System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("victim", probe.worker("victim"))
            yield* scope.child("slow", slow)
            yield* scope.child("crashy", probe.worker("crashy"))
          })
        ))
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("crashy") === 1, "started")
        yield* probe.crash("crashy")
        yield* eventually(() => probe.journal.includes("slow settling"), "restart under way")
        yield* probe.crash("victim")
        yield* TestClock.adjust("1 second")
        yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
        toplevel.shutdownToken.signal()
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(run)
        const victim = lines.filter((line) => line.path === "app/victim" && line.level === "Warn")
        expect(victim.map((line) => line.text)).toEqual(["app/victim: exited abnormally (failure) while stopping"])
        expect(victim[0]?.cause).toContain("victim crashed")
      })
    ))
})

describe("one line per lifecycle event", () => {
  it.effect("at Debug, each start, restart and stop of a worker, a subsystem and the root is logged once", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sub = System.make((scope) => scope.child("crashy", probe.worker("crashy")).pipe(Effect.asVoid))
        const toplevel = Toplevel.make("app", System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("steady", probe.worker("steady"))
            yield* scope.system("sub", sub, { strategy: "one_for_one" })
          })
        ), { strategy: "one_for_one" })
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("crashy") === 1, "started")
        yield* probe.crash("crashy")
        yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
        yield* shutdown(toplevel, run)
        const told = (path: string) => lines.filter((line) => line.path === path).map((line) => line.text.slice(path.length + 2))
        expect(told("app/sub/crashy")).toEqual([
          "starting",
          "started",
          "exited abnormally (failure); restarting (permanent)",
          "starting",
          "started",
          "asked to settle",
          "stopped"
        ])
        expect(told("app/sub")).toEqual(["starting", "started", "restarting app/sub/crashy (one_for_one); 1 restart in the last 5s, at most 3 allowed", "asked to settle", "stopped"])
        expect(told("app")).toEqual(["starting", "started", "shutdown requested", "shutdown complete"])
      }).pipe(Effect.provideService(References.MinimumLogLevel, "Debug"))
    ))
})

describe("structured logging", () => {
  it.effect("with Effect's JSON format (the one Logger.consoleJson prints), each line carries the path and the cause", () =>
    Effect.gen(function*() {
      const printed: Array<string> = []
      const json = Logger.map(Logger.formatJson, (line) => void printed.push(line))
      const probe = new Probe()
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child("crashy", probe.worker("crashy"))))
      yield* Effect.gen(function*() {
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("crashy") === 1, "started")
        yield* probe.crash("crashy")
        yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
        yield* shutdown(toplevel, run)
      }).pipe(Effect.provide(Logger.layer([json])))
      const lines = printed.map((line) => JSON.parse(line) as { level: string; message: unknown; cause?: string; annotations: { path?: string } })
      const crash = lines.find((line) => line.level === "WARN")
      expect(crash?.annotations.path).toBe("app/crashy")
      expect(String(crash?.message)).toContain("app/crashy: exited abnormally (failure); restarting (permanent)")
      expect(crash?.cause).toContain("crashy crashed")
      expect(lines.map((line) => line.annotations.path)).toContain("app")
    }))
})
