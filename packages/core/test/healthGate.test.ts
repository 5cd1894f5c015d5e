import { describe, expect, it } from "@effect/vitest"
import { HealthGate, Lifecycle, LifecycleEvent, MainLoop, Metrics, System, Toplevel } from "@arbor/core"
import { Effect, Exit, Fiber, Metric, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { launch, quiesce, shutdown, withCapturedLogs } from "./helpers.ts"

class DiskFull extends Error {
  override readonly name = "DiskFull"
}
class Slow extends Error {
  override readonly name = "Slow"
}
class BadRequest extends Error {
  override readonly name = "BadRequest"
}

const classify = (error: unknown): HealthGate.Severity =>
  error instanceof DiskFull ? "fatal" : error instanceof BadRequest ? "ignore" : "unhealthy"

const gate = (options: HealthGate.Options = {}) =>
  HealthGate.make("store", { latchAfter: "15 seconds", unlatchAfter: "5 minutes", classify, ...options })

const tagOf = (gate: HealthGate.HealthGate) => Effect.map(gate.status, (status) => status._tag)

describe("HealthGate", () => {
  it.effect("latches at once on the first fatal error; guard then fails with Unhealthy", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      yield* TestClock.adjust("1 second")
      expect(yield* store.guard(Effect.succeed("written"))).toBe("written")
      yield* store.record(new DiskFull("no space left on device"))
      expect(yield* store.isLatched).toBe(true)
      const error = yield* Effect.flip(store.guard(Effect.succeed("written")))
      expect(error).toBeInstanceOf(HealthGate.Unhealthy)
      expect(error).toMatchObject({ gate: "store", reason: "fatal: DiskFull: no space left on device", since: 1000 })
    }))

  it.effect("latches on unhealthy errors only once they have held for latchAfter", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      yield* store.record(new Slow("write took 3 s"))
      expect(yield* store.status).toEqual({ _tag: "Suspect", since: 0, reason: "1 error, last: Slow: write took 3 s" })
      expect(yield* store.guard(Effect.succeed("still served"))).toBe("still served")
      yield* TestClock.adjust("10 seconds")
      yield* store.record(new Slow("write took 4 s"))
      yield* TestClock.adjust("4999 millis")
      expect(yield* tagOf(store)).toBe("Suspect")
      yield* TestClock.adjust("1 millis")
      expect(yield* store.status).toEqual({
        _tag: "Latched",
        since: 15_000,
        reason: "unhealthy for 15s: 2 errors, last: Slow: write took 4 s"
      })
    }))

  it.effect("a success before latchAfter resets the window", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      yield* store.record(new Slow("slow"))
      yield* TestClock.adjust("14 seconds")
      yield* store.recordSuccess
      expect(yield* tagOf(store)).toBe("Healthy")
      yield* store.record(new Slow("slow again"))
      yield* TestClock.adjust("14 seconds")
      expect(yield* tagOf(store)).toBe("Suspect")
      yield* TestClock.adjust("1 second")
      expect(yield* tagOf(store)).toBe("Latched")
    }))

  it.effect("ignores the errors its classifier says are none of its business", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      yield* store.record(new BadRequest("malformed body"))
      yield* TestClock.adjust("1 hour")
      expect(yield* tagOf(store)).toBe("Healthy")
    }))

  it.effect("the default classifier latches at once on a full disk", () =>
    Effect.gen(function*() {
      const store = yield* HealthGate.make("store")
      yield* store.record(Object.assign(new Error("write failed"), { code: "ENOSPC" }))
      expect(yield* tagOf(store)).toBe("Latched")
    }))

  it.effect("a probe's first report is its baseline; only continuous growth after it latches", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      // The counter already stood at 7 when the process started: that does not count.
      yield* store.observe("stalledWrites", 7)
      expect(yield* tagOf(store)).toBe("Healthy")
      yield* TestClock.adjust("1 second")
      yield* store.observe("stalledWrites", 8)
      expect(yield* store.status).toEqual({ _tag: "Suspect", since: 1000, reason: "stalledWrites grew from 7 to 8" })
      yield* TestClock.adjust("1 second")
      yield* store.observe("stalledWrites", 8)
      expect(yield* tagOf(store)).toBe("Healthy")
      // Growing at every poll for 15 seconds: wedged.
      for (let value = 9; value <= 24; value++) {
        yield* TestClock.adjust("1 second")
        yield* store.observe("stalledWrites", value)
      }
      expect(yield* store.status).toMatchObject({ _tag: "Latched", reason: "unhealthy for 15s: stalledWrites grew from 8 to 23" })
    }))

  it.effect("signals compose: the window stays open while any of them holds", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      yield* store.observe("failedWrites", 0)
      yield* store.record(new Slow("slow"))
      yield* TestClock.adjust("5 seconds")
      yield* store.observe("failedWrites", 2)
      yield* store.recordSuccess
      expect(yield* store.status).toEqual({ _tag: "Suspect", since: 0, reason: "failedWrites grew from 0 to 2" })
      yield* TestClock.adjust("10 seconds")
      expect(yield* tagOf(store)).toBe("Latched")
    }))

  it.effect("clears itself after unlatchAfter without new trouble; trouble while latched defers it", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      yield* store.observe("failedWrites", 0)
      yield* store.record(new DiskFull("full"))
      yield* TestClock.adjust("4 minutes")
      yield* store.record(new DiskFull("still full"))
      yield* TestClock.adjust("2 minutes")
      yield* store.observe("failedWrites", 3)
      yield* TestClock.adjust("4 minutes")
      yield* store.observe("failedWrites", 3)
      yield* TestClock.adjust("59 seconds")
      expect(yield* tagOf(store)).toBe("Latched")
      yield* TestClock.adjust("1 second")
      expect(yield* tagOf(store)).toBe("Healthy")
    }))

  it.effect("an error recorded at the very moment the gate would unlatch defers the unlatch", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      // This sleeper is registered before the gate's timer and due at the same instant: it runs first.
      const racer = yield* Effect.forkChild(Effect.andThen(Effect.sleep("5 minutes"), store.record(new Slow("again"))), {
        startImmediately: true
      })
      yield* store.record(new DiskFull("full"))
      yield* TestClock.adjust("5 minutes")
      yield* Fiber.join(racer)
      expect(yield* tagOf(store)).toBe("Latched")
      yield* TestClock.adjust("4 minutes")
      expect(yield* tagOf(store)).toBe("Latched")
      yield* TestClock.adjust("1 minute")
      expect(yield* tagOf(store)).toBe("Healthy")
    }))

  it.effect("an error recorded just after the unlatch is not lost: it opens the next window", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      yield* store.record(new DiskFull("full"))
      // Registered after the gate's timer, due at the same instant: it runs right after the unlatch.
      const racer = yield* Effect.forkChild(Effect.andThen(Effect.sleep("5 minutes"), store.record(new Slow("again"))), {
        startImmediately: true
      })
      yield* TestClock.adjust("5 minutes")
      yield* Fiber.join(racer)
      expect(yield* store.status).toEqual({ _tag: "Suspect", since: 300_000, reason: "1 error, last: Slow: again" })
      yield* TestClock.adjust("15 seconds")
      expect(yield* tagOf(store)).toBe("Latched")
    }))

  it.effect("re-anchors after recovery: what a counter grew by while latched does not count again", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      yield* store.observe("failedWrites", 0)
      yield* store.record(new DiskFull("full"))
      yield* TestClock.adjust("1 minute")
      yield* store.observe("failedWrites", 40)
      yield* TestClock.adjust("5 minutes")
      expect(yield* tagOf(store)).toBe("Healthy")
      // Still 40: the baseline is now 40, not the 0 seen at start.
      yield* store.observe("failedWrites", 40)
      yield* TestClock.adjust("1 minute")
      expect(yield* tagOf(store)).toBe("Healthy")
      yield* store.observe("failedWrites", 41)
      expect(yield* store.status).toMatchObject({ _tag: "Suspect", reason: "failedWrites grew from 40 to 41" })
    }))

  it.effect("a counter that starts over (its source restarted) takes its new value as baseline", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      yield* store.observe("failedWrites", 12)
      yield* store.observe("failedWrites", 0)
      yield* store.observe("failedWrites", 0)
      expect(yield* tagOf(store)).toBe("Healthy")
      yield* store.observe("failedWrites", 1)
      expect(yield* store.status).toMatchObject({ reason: "failedWrites grew from 0 to 1" })
    }))

  it.effect("with allowUnlatch false only reset clears it", () =>
    Effect.gen(function*() {
      const store = yield* gate({ allowUnlatch: false })
      yield* store.record(new DiskFull("full"))
      yield* TestClock.adjust("1 day")
      expect(yield* tagOf(store)).toBe("Latched")
      yield* store.reset
      expect(yield* tagOf(store)).toBe("Healthy")
      expect(yield* store.guard(Effect.succeed("served"))).toBe("served")
    }))

  it.effect("changes streams the status, then each move between states", () =>
    Effect.gen(function*() {
      const store = yield* gate()
      const seen = yield* Effect.forkChild(Stream.runCollect(Stream.take(Stream.map(store.changes, (s) => s._tag), 4)), {
        startImmediately: true
      })
      yield* quiesce
      yield* store.record(new Slow("slow"))
      yield* store.record(new Slow("slower"))
      yield* TestClock.adjust("15 seconds")
      yield* TestClock.adjust("5 minutes")
      expect(yield* Fiber.join(seen)).toEqual(["Healthy", "Suspect", "Latched", "Healthy"])
    }))

  it.effect("bad options fail with InvalidOptions naming the gate", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(HealthGate.make("store", { latchAfter: "-1 seconds" }))
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("store: invalid options")
      expect(error.message).toContain("latchAfter")
      const misspelt = yield* Effect.flip(HealthGate.make("store", { unlatchAftr: "1 minute" } as HealthGate.Options))
      expect(misspelt.message).toContain("unlatchAftr")
    }))
})

describe("HealthGate in a tree", () => {
  /** A tree whose root makes the gate in `start`; its worker hands the gate to the test. */
  const tree = (options: HealthGate.Options = {}) => {
    const made: Array<HealthGate.HealthGate> = []
    const system = System.make((scope) =>
      Effect.gen(function*() {
        const store = yield* gate(options)
        made.push(store)
        yield* scope.child("writer", MainLoop.spawn(Lifecycle.settling))
      })
    )
    return { made, toplevel: Toplevel.make("app", system) }
  }

  it.effect("shows in the snapshot; each latch and unlatch is one event, one log line and a metric", () =>
    withCapturedLogs((lines) =>
      Effect.gen(function*() {
        const { made, toplevel } = tree()
        const events = yield* Effect.forkChild(Stream.runCollect(toplevel.events), { startImmediately: true })
        const run = yield* launch(toplevel)
        yield* quiesce
        const store = made[0]!
        expect((yield* toplevel.snapshot).gates).toEqual([{ name: "store", path: "app", state: "healthy", latches: 0 }])
        yield* TestClock.adjust("1 second")
        yield* store.record(new DiskFull("full"))
        yield* store.record(new DiskFull("full again"))
        expect((yield* toplevel.snapshot).gates).toEqual([
          { name: "store", path: "app", state: "latched", reason: "fatal: DiskFull: full", since: 1000, latches: 1 }
        ])
        const latched = Metric.withAttributes(Metrics.healthGateLatched, { gate: "store" })
        const latches = Metric.withAttributes(Metrics.healthGateLatches, { gate: "store" })
        expect((yield* Metric.value(latched)).value).toBe(1)
        expect((yield* Metric.value(latches)).count).toBe(1)
        yield* TestClock.adjust("5 minutes")
        expect((yield* Metric.value(latched)).value).toBe(0)
        yield* shutdown(toplevel, run)
        const gateEvents = (yield* Fiber.join(events)).filter((e) => e._tag === "GateLatched" || e._tag === "GateUnlatched")
        expect(gateEvents).toEqual([
          { _tag: "GateLatched", path: "app", at: 1000, gate: "store", reason: "fatal: DiskFull: full" },
          { _tag: "GateUnlatched", path: "app", at: 301_000, gate: "store", by: "quiet", latchedMillis: 300_000 }
        ])
        for (const event of gateEvents) expect(Schema.decodeUnknownSync(LifecycleEvent.LifecycleEvent)(event)).toEqual(event)
        const gateLines = lines.filter((line) => line.text.includes("health gate"))
        expect(gateLines.map((line) => [line.level, line.text, line.path])).toEqual([
          ["Warn", "app: health gate store latched: fatal: DiskFull: full", "app"],
          ["Info", "app: health gate store unlatched (no new trouble for 5m) after 5m latched", "app"]
        ])
        expect((yield* toplevel.snapshot).gates).toBeUndefined()
      })
    ).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("a restart of the system that made it gets the same gate back, latched", () =>
    Effect.gen(function*() {
      const { made, toplevel } = tree()
      const run = yield* launch(toplevel)
      yield* quiesce
      yield* made[0]!.record(new DiskFull("full"))
      yield* toplevel.exitChild("app/writer", Exit.fail(new Error("crash")))
      yield* quiesce
      expect(made.length).toBe(2)
      expect(made[1]).toBe(made[0])
      expect(yield* made[1]!.isLatched).toBe(true)
      yield* shutdown(toplevel, run)
    }))

  it.effect("a second gate of the same name elsewhere in the tree is refused", () =>
    Effect.gen(function*() {
      const system = System.make((scope) =>
        Effect.gen(function*() {
          yield* gate()
          yield* scope.child("other", Effect.andThen(gate(), MainLoop.spawn(Effect.never)))
        })
      )
      const exit = yield* Effect.exit(Toplevel.make("app", system).start())
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("a health gate named \"store\" already exists (made by app)")
    }))
})
