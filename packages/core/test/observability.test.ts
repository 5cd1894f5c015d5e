import { describe, expect, it } from "@effect/vitest"
import { Errors, Lifecycle, LifecycleEvent, MainLoop, Metrics, Pool, System, Toplevel, TreeSnapshot } from "@arbor/core"
import { Deferred, Effect, Exit, Fiber, Metric, Option, Schedule, Schema, Scope, Stream, Tracer } from "effect"
import { TestClock } from "effect/testing"
import { eventually, flat, launch, Probe, quiesce, shutdown, withCapturedLogs } from "./helpers.ts"

/** Subscribes to the toplevel's events before it starts; the fiber resumes with all of them once the tree stopped. */
const recordEvents = (toplevel: Toplevel.Toplevel<never>) =>
  Effect.tap(Effect.forkChild(Stream.runCollect(toplevel.events), { startImmediately: true }), () => quiesce)

/** Events as short lines, without timestamps, for exact sequences. */
const lines = (events: ReadonlyArray<LifecycleEvent.LifecycleEvent>) =>
  events.map((event) => {
    switch (event._tag) {
      case "ChildExited":
        return `${event._tag} ${event.path} ${event.exit} ${event.decision}`
      case "SystemRestarting":
        return `${event._tag} ${event.path} ${event.child} ${event.strategy} ${event.restart}/${event.maxRestarts} ${event.delayMillis}ms`
      case "Escalated":
        return `${event._tag} ${event.path} ${event.error}`
      case "ShutdownCompleted":
        return `${event._tag} ${event.path} stopped=${event.stopped} forced=${event.forced}`
      case "ShutdownRequested":
        return `${event._tag} ${event.path} ${event.reason}`
      default:
        return `${event._tag} ${event.path}`
    }
  })

const find = (node: TreeSnapshot.Node, path: string): TreeSnapshot.Node | undefined =>
  node.path === path ? node : (node.children ?? []).map((child) => find(child, path)).find((n) => n !== undefined)

describe("snapshot", () => {
  it.effect("shows every node's path, kind, policy, state, start time, restarts and last exit", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const gate = yield* Deferred.make<void>()
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("db", probe.worker("db"))
          yield* scope.system("api", flat(probe, ["http"]), { strategy: "one_for_one" })
          yield* scope.child("slow", probe.worker("slow", { setup: Deferred.await(gate) }), { restart: "transient" })
        })
      )
      const toplevel = Toplevel.make("app", tree)
      expect((yield* toplevel.snapshot).root).toMatchObject({ path: "app", state: "stopped", startedAt: null })
      yield* TestClock.adjust("1 second")
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("slow") === 1, "slow starting")
      const starting = (yield* toplevel.snapshot).root
      expect(starting).toMatchObject({ state: "starting", kind: "system", strategy: "one_for_all", startedAt: 1000 })
      expect(find(starting, "app/slow")).toMatchObject({ state: "starting", restart: "transient", startedAt: null })
      expect(find(starting, "app/api")).toMatchObject({ kind: "system", strategy: "one_for_one", state: "running" })
      yield* Deferred.succeed(gate, undefined)
      yield* TestClock.adjust("1 second")
      yield* probe.crash("http")
      yield* eventually(() => probe.startsOf("http") === 2, "http restarted")
      const snapshot = yield* toplevel.snapshot
      expect(snapshot.at).toBe(2000)
      expect(snapshot.root.state).toBe("running")
      expect(find(snapshot.root, "app/api/http")).toEqual({
        path: "app/api/http",
        name: "http",
        kind: "worker",
        restart: "permanent",
        state: "running",
        startedAt: 2000,
        restarts: 1,
        lastExit: { kind: "failure", message: "Error: http crashed", at: 2000 }
      })
      // The snapshot is plain data: it survives a JSON round trip through its schema.
      const json = Schema.encodeSync(Schema.fromJsonString(TreeSnapshot.TreeSnapshot))(snapshot)
      expect(Schema.decodeSync(Schema.fromJsonString(TreeSnapshot.TreeSnapshot))(json)).toEqual(snapshot)
      yield* shutdown(toplevel, run)
      expect((yield* toplevel.snapshot).root).toMatchObject({ state: "stopped", lastExit: null })
      expect((yield* toplevel.snapshot).root.children).toBeUndefined()
    }))

  it.effect("shows settling during a shutdown and restarting during a backoff wait", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.system("jobs", flat(probe, ["job"]), { backoff: Schedule.spaced("1 minute") })
          yield* scope.child("stubborn", probe.worker("stubborn", { settles: false }), { shutdown: "10 seconds" })
        })
      )
      const toplevel = Toplevel.make("app", tree)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("stubborn") === 1, "started")
      yield* probe.crash("job")
      yield* quiesce
      const restarting = (yield* toplevel.snapshot).root
      expect(find(restarting, "app/jobs")).toMatchObject({ state: "restarting" })
      expect(find(restarting, "app/jobs/job")).toMatchObject({ state: "stopped", lastExit: { kind: "failure" } })
      toplevel.shutdownToken.signal()
      yield* eventually(() => probe.journal.includes("settle stubborn"), "stubborn settling")
      const settling = (yield* toplevel.snapshot).root
      expect(settling.state).toBe("settling")
      expect(find(settling, "app/stubborn")?.state).toBe("settling")
      yield* TestClock.adjust("10 seconds")
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
    }))

  it.effect("gives a pool's counts and lists its children up to snapshotPoolLimit", () =>
    Effect.gen(function*() {
      let pool: Pool.Pool | undefined
      const tree = System.make((scope) => Effect.map(scope.pool("jobs"), (p) => void (pool = p)))
      const toplevel = Toplevel.make("app", tree, { snapshotPoolLimit: 2 })
      const run = yield* launch(toplevel)
      yield* eventually(() => pool !== undefined, "pool started")
      for (let i = 0; i < 5; i++) yield* pool!.spawn(MainLoop.spawn(Effect.never))
      const node = find((yield* toplevel.snapshot).root, "app/jobs")
      expect(node?.kind).toBe("pool")
      expect(node?.counts).toEqual({ children: 5, running: 5, restarting: 0, waiting: 0 })
      expect(node?.children?.map((child) => child.name)).toEqual(["1", "2"])
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(run)
    }))

  it.effect("changes streams the snapshot again after every event", () =>
    Effect.gen(function*() {
      // Its child settles when released: a tree whose children settle at once is settling for no turn of the
      // event loop, and a reader that is not that quick skips to the next snapshot.
      const release = yield* Deferred.make<void>()
      const tree = System.make((scope) => scope.child("a", MainLoop.run(Effect.andThen(Lifecycle.settling, Deferred.await(release)))))
      const toplevel = Toplevel.make("app", tree)
      const states = yield* Effect.forkChild(
        Stream.runCollect(Stream.map(toplevel.changes, (snapshot) => snapshot.root.state)),
        { startImmediately: true }
      )
      yield* quiesce
      const run = yield* launch(toplevel)
      yield* quiesce
      toplevel.shutdownToken.signal()
      yield* quiesce
      yield* Deferred.succeed(release, undefined)
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
      const seen = yield* Fiber.join(states)
      expect(seen[0]).toBe("stopped")
      expect(seen).toContain("running")
      expect(seen).toContain("settling")
      expect(seen[seen.length - 1]).toBe("stopped")
    }))
})

describe("events", () => {
  it.effect("a restart: the exit with the decision, the stops in reverse order, the restart, the new starts", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]))
      const recorder = yield* recordEvents(toplevel)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      yield* probe.crash("b")
      yield* eventually(() => probe.startsOf("b") === 2, "restarted")
      yield* shutdown(toplevel, run)
      expect(lines(yield* Fiber.join(recorder))).toEqual([
        "ChildStarting app",
        "ChildStarting app/a",
        "ChildStarted app/a",
        "ChildStarting app/b",
        "ChildStarted app/b",
        "ChildStarted app",
        "ChildExited app/b failure restart",
        "SystemRestarting app app/b one_for_all 1/3 0ms",
        "ChildSettling app/a",
        "ChildExited app/a normal stopped",
        "ChildStarting app/a",
        "ChildStarted app/a",
        "ChildStarting app/b",
        "ChildStarted app/b",
        "ShutdownRequested app signal",
        "ChildSettling app/b",
        "ChildExited app/b normal stopped",
        "ChildSettling app/a",
        "ChildExited app/a normal stopped",
        "ShutdownCompleted app stopped=2 forced=0"
      ])
    }))

  it.effect("an escalation: the subsystem gives up, its parent restarts it", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tree = System.make((scope) => scope.system("sub", flat(probe, ["w"]), { intensity: { maxRestarts: 0, within: "1 minute" } }))
      const toplevel = Toplevel.make("app", tree)
      const recorder = yield* recordEvents(toplevel)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("w") === 1, "started")
      yield* probe.crash("w")
      yield* eventually(() => probe.startsOf("w") === 2, "restarted by the parent")
      yield* shutdown(toplevel, run)
      const events = yield* Fiber.join(recorder)
      expect(lines(events).slice(6, 13)).toEqual([
        "ChildExited app/sub/w failure restart",
        "Escalated app/sub TooManyRestarts",
        "ChildExited app/sub failure restart",
        "SystemRestarting app app/sub one_for_all 1/3 0ms",
        "ChildStarting app/sub",
        "ChildStarting app/sub/w",
        "ChildStarted app/sub/w"
      ])
      const escalated = events.find((event) => event._tag === "Escalated")
      expect(escalated).toMatchObject({ message: expect.stringContaining("app/sub: more than 0 restarts within 1m") })
    }))

  it.effect("a shutdown that had to interrupt: settling, interrupted after the budget, and the forced count", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("polite", probe.worker("polite"))
          yield* scope.child("stubborn", probe.worker("stubborn", { settles: false }), { shutdown: "3 seconds" })
        })
      )
      const toplevel = Toplevel.make("app", tree)
      const recorder = yield* recordEvents(toplevel)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("stubborn") === 1, "started")
      toplevel.shutdownToken.signal()
      yield* eventually(() => probe.journal.includes("settle stubborn"), "settling")
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(run)
      const events = yield* Fiber.join(recorder)
      expect(lines(events).slice(6)).toEqual([
        "ShutdownRequested app signal",
        "ChildSettling app/stubborn",
        "ChildInterrupted app/stubborn",
        "ChildExited app/stubborn interrupted stopped",
        "ChildSettling app/polite",
        "ChildExited app/polite normal stopped",
        "ShutdownCompleted app stopped=2 forced=1"
      ])
      expect(events.find((event) => event._tag === "ChildInterrupted")).toMatchObject({ budget: "3s", at: 3000 })
      // Every event is a valid LifecycleEvent and survives JSON.
      const codec = Schema.fromJsonString(LifecycleEvent.LifecycleEvent)
      for (const event of events) expect(Schema.decodeSync(codec)(Schema.encodeSync(codec)(event))).toEqual(event)
    }))

  it.effect("a slow subscriber never delays a restart: it loses its oldest events instead", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]), { eventBuffer: 2, intensity: { maxRestarts: 10, within: "1 minute" } })
      const stuck = yield* Deferred.make<void>()
      const received: Array<string> = []
      // Takes one event, then blocks until released.
      const slow = yield* Effect.forkChild(
        Stream.runForEach(toplevel.events, (event) => Effect.andThen(Effect.sync(() => received.push(event._tag)), Deferred.await(stuck))),
        { startImmediately: true }
      )
      yield* quiesce
      const run = yield* launch(toplevel)
      for (let i = 1; i <= 5; i++) {
        yield* eventually(() => probe.startsOf("a") === i, `start ${i}`)
        yield* probe.crash("a")
      }
      yield* eventually(() => probe.startsOf("a") === 6, "five restarts went through")
      yield* Deferred.succeed(stuck, undefined)
      yield* shutdown(toplevel, run)
      yield* Fiber.join(slow)
      // It saw one of the start's events (the first ones come in one burst, of which its buffer keeps the last
      // two), then only what its buffer kept: far fewer than were emitted.
      expect(received[0]).toMatch(/^ChildStart/)
      expect(received.length).toBeLessThan(10)
      expect(received[received.length - 1]).toBe("ShutdownCompleted")
    }))
})

describe("eventsAfter", () => {
  /** Reads `stream` until the tree has stopped, as `id tag path` lines and `Gap missed after` lines. */
  const collect = (stream: Stream.Stream<LifecycleEvent.Numbered | LifecycleEvent.Gap>) =>
    Effect.tap(
      Effect.forkChild(
        Stream.runCollect(Stream.map(stream, (item) =>
          item._tag === "Gap" ? `Gap missed=${item.missed} after=${item.after}` : `${item.id} ${item.event._tag} ${item.event.path}`
        )),
        { startImmediately: true }
      ),
      () => quiesce
    )

  /** A tree of `a` and `b` that has started (4 events), crashed `b` once (7 more) and runs; then the rest of its life. */
  const crashedOnce = (toplevel: Toplevel.Toplevel<never>, probe: Probe) =>
    Effect.gen(function*() {
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      yield* probe.crash("b")
      yield* eventually(() => probe.startsOf("b") === 2, "restarted")
      yield* quiesce
      return run
    })

  it.effect("numbers every event 1, 2, 3, ...; resuming after a number replays the held events after it, then the live ones", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]), { strategy: "one_for_one" })
      yield* toplevel.holdEvents
      const everything = yield* collect(toplevel.eventsAfter())
      const run = yield* crashedOnce(toplevel, probe)
      const resumed = yield* collect(toplevel.eventsAfter(6))
      yield* shutdown(toplevel, run)
      const all = yield* Fiber.join(everything)
      expect(all.map((line) => Number(line.split(" ")[0]))).toEqual(all.map((_, i) => i + 1))
      expect(all.slice(0, 8)).toEqual([
        "1 ChildStarting app",
        "2 ChildStarting app/a",
        "3 ChildStarted app/a",
        "4 ChildStarting app/b",
        "5 ChildStarted app/b",
        "6 ChildStarted app",
        "7 ChildExited app/b",
        "8 SystemRestarting app"
      ])
      // Exactly what came after 6, held or live: nothing twice, nothing missing.
      expect(yield* Fiber.join(resumed)).toEqual(all.slice(6))
    }))

  /** The first two items a reader resuming after `after` gets, from a tree that holds 4 events and crashed once. */
  const resumedAfter = (after: number) =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]), { strategy: "one_for_one", eventBuffer: 4 })
      yield* toplevel.holdEvents
      const run = yield* crashedOnce(toplevel, probe)
      const resumed = yield* collect(toplevel.eventsAfter(after))
      yield* shutdown(toplevel, run)
      return (yield* Fiber.join(resumed)).slice(0, 2)
    })

  it.effect("a reader further behind than the held events gets a Gap for what is no longer held", () =>
    Effect.gen(function*() {
      // 10 events so far, the last 4 held (7 to 10): 3 to 6 were lost to a reader that had 2.
      expect(yield* resumedAfter(2)).toEqual(["Gap missed=4 after=2", "7 ChildExited app/b"])
    }))

  it.effect("a number from another sequence (an earlier process) gets everything held, after a Gap for the rest", () =>
    Effect.gen(function*() {
      expect(yield* resumedAfter(5_000)).toEqual(["Gap missed=6 after=5000", "7 ChildExited app/b"])
    }))

  it.effect("events are held only while a scope holds them: a reader resuming after others gets a Gap for them", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]), { strategy: "one_for_one" })
      const holding = yield* Scope.make()
      yield* Scope.provide(toplevel.holdEvents, holding)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      // Released after the 6 events of the start: none held any more, nor the 4 of the restart (7 to 10).
      yield* Scope.close(holding, Exit.void)
      yield* probe.crash("b")
      yield* eventually(() => probe.startsOf("b") === 2, "restarted")
      yield* quiesce
      const resumed = yield* collect(toplevel.eventsAfter(2))
      // Held again from here: the shutdown's events are replayed to a reader that resumes after the restart.
      yield* toplevel.holdEvents
      yield* shutdown(toplevel, run)
      const late = yield* collect(toplevel.eventsAfter(10))
      expect((yield* Fiber.join(resumed)).slice(0, 2)).toEqual(["Gap missed=8 after=2", "11 ShutdownRequested app"])
      expect((yield* Fiber.join(late))[0]).toBe("11 ShutdownRequested app")
    }))

  it.effect("a live reader that falls behind its buffer gets a Gap where it lost events", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]), { strategy: "one_for_one", eventBuffer: 2 })
      const stuck = yield* Deferred.make<void>()
      const read: Array<string> = []
      // Takes an event, then blocks until released: its buffer keeps only the last 2 meanwhile.
      const slow = yield* Effect.forkChild(
        Stream.runForEach(toplevel.eventsAfter(), (item) =>
          Effect.andThen(Effect.sync(() => read.push(item._tag === "Gap" ? `Gap missed=${item.missed} after=${item.after}` : String(item.id))), Deferred.await(stuck))),
        { startImmediately: true }
      )
      yield* quiesce
      const run = yield* crashedOnce(toplevel, probe)
      yield* Deferred.succeed(stuck, undefined)
      yield* shutdown(toplevel, run)
      yield* Fiber.join(slow)
      // Each Gap says exactly which numbers are missing between the events around it.
      const gaps = read.flatMap((item, i) => item.startsWith("Gap") ? [i] : [])
      expect(gaps.length).toBeGreaterThan(0)
      for (const i of gaps) {
        const [, missed, after] = /missed=(\d+) after=(\d+)/.exec(read[i]!)!.map(Number)
        expect(after).toBe(Number(read[i - 1]))
        expect(Number(read[i + 1])).toBe(after! + missed! + 1)
      }
      const numbers = read.filter((item) => !item.startsWith("Gap")).map(Number)
      expect(numbers.length - gaps.length - 1).toBe(numbers.filter((n, i) => i > 0 && n === numbers[i - 1]! + 1).length)
    }))
})

describe("metrics", () => {
  it.effect("count restarts, escalations, forced stops, startups and children by state, labelled by path", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.system("sub", flat(probe, ["w"]), { intensity: { maxRestarts: 1, within: "1 minute" } })
          yield* scope.child("stubborn", probe.worker("stubborn", { settles: false }), { shutdown: "1 second" })
        })
      )
      const toplevel = Toplevel.make("app", tree, { strategy: "one_for_one" })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("stubborn") === 1, "started")
      yield* probe.crash("w")
      yield* eventually(() => probe.startsOf("w") === 2, "w restarted")
      yield* probe.crash("w")
      yield* eventually(() => probe.startsOf("w") === 3, "sub restarted by app")
      const counter = (metric: typeof Metrics.childRestarts, path: string) =>
        Effect.map(Metric.value(Metric.withAttributes(metric, { path })), (state) => state.count)
      // w was restarted once by sub; then sub itself was restarted (a new sub starts a new w).
      expect(yield* counter(Metrics.childRestarts, "app/sub/w")).toBe(1)
      expect(yield* counter(Metrics.childRestarts, "app/sub")).toBe(1)
      expect(yield* counter(Metrics.escalations, "app/sub")).toBe(1)
      const gauge = (path: string, state: string) =>
        Effect.map(Metric.value(Metric.withAttributes(Metrics.children, { path, state })), (s) => s.value)
      expect([yield* gauge("app", "running"), yield* gauge("app", "stopped")]).toEqual([2, 0])
      expect(yield* gauge("app/sub", "running")).toBe(1)
      // Startups are counted by system: w three times in app/sub, sub twice and stubborn once in app.
      expect((yield* Metric.value(Metric.withAttributes(Metrics.childStartup, { path: "app/sub" }))).count).toBe(3)
      expect((yield* Metric.value(Metric.withAttributes(Metrics.childStartup, { path: "app" }))).count).toBe(3)
      toplevel.shutdownToken.signal()
      yield* eventually(() => probe.journal.includes("settle stubborn"), "settling")
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(run)
      expect(yield* counter(Metrics.shutdownForced, "app")).toBe(1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("read after a burst of restarts that nobody watched, they are exact", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "w"]), { strategy: "one_for_one", intensity: { maxRestarts: 100, within: "1 minute" } })
      const run = yield* launch(toplevel)
      for (let i = 1; i <= 50; i++) {
        yield* eventually(() => probe.startsOf("w") === i, `start ${i}`)
        yield* probe.crash("w")
      }
      yield* eventually(() => probe.startsOf("w") === 51, "fifty restarts")
      expect((yield* Metric.value(Metric.withAttributes(Metrics.childRestarts, { path: "app/w" }))).count).toBe(50)
      expect((yield* Metric.value(Metric.withAttributes(Metrics.childRestarts, { path: "app/a" }))).count).toBe(0)
      // 51 starts of w and one of a, all in app.
      expect((yield* Metric.value(Metric.withAttributes(Metrics.childStartup, { path: "app" }))).count).toBe(52)
      yield* shutdown(toplevel, run)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})

describe("events, subscribed late", () => {
  it.effect("a subscriber that comes after the start sees every event from then on, in order", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "w"]), { strategy: "one_for_one" })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("w") === 1, "started")
      yield* quiesce
      // Nobody subscribed until now: the events so far were numbered, and handed to nobody.
      const recorder = yield* recordEvents(toplevel)
      yield* probe.crash("w")
      yield* eventually(() => probe.startsOf("w") === 2, "restarted")
      yield* shutdown(toplevel, run)
      expect(lines(yield* Fiber.join(recorder))).toEqual([
        "ChildExited app/w failure restart",
        "SystemRestarting app app/w one_for_one 1/3 0ms",
        "ChildStarting app/w",
        "ChildStarted app/w",
        "ShutdownRequested app signal",
        "ChildSettling app/w",
        "ChildExited app/w normal stopped",
        "ChildSettling app/a",
        "ChildExited app/a normal stopped",
        "ShutdownCompleted app stopped=2 forced=0"
      ])
    }))
})

describe("spans", () => {
  it.effect("startups, restarts and shutdowns are spans nested like the tree", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const probe = new Probe()
      const tree = System.make((scope) => scope.system("sub", flat(probe, ["w"])))
      const toplevel = Toplevel.make("app", tree)
      yield* Effect.gen(function*() {
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("w") === 1, "started")
        yield* probe.crash("w")
        yield* eventually(() => probe.startsOf("w") === 2, "restarted")
        yield* shutdown(toplevel, run)
      }).pipe(Effect.withTracer(tracer))
      const label = (span: Tracer.NativeSpan) => `${span.name} ${String(span.attributes.get("arbor.path"))}`
      const parentOf = (span: Tracer.NativeSpan) => {
        const parent = Option.getOrUndefined(span.parent)
        const found = spans.find((candidate) => candidate.spanId === parent?.spanId)
        return found === undefined ? "(root)" : label(found)
      }
      const tree_ = spans.filter((span) => span.name.startsWith("arbor.")).map((span) => `${label(span)} <- ${parentOf(span)}`)
      expect(tree_).toEqual([
        "arbor.toplevel.start app <- (root)",
        "arbor.child.startup app/sub <- arbor.toplevel.start app",
        "arbor.child.startup app/sub/w <- arbor.child.startup app/sub",
        "arbor.system.restart app/sub <- arbor.child.startup app/sub",
        "arbor.child.startup app/sub/w <- arbor.system.restart app/sub",
        "arbor.system.shutdown app <- arbor.toplevel.start app",
        "arbor.child.stop app/sub <- arbor.system.shutdown app",
        "arbor.system.shutdown app/sub <- arbor.child.stop app/sub",
        "arbor.child.stop app/sub/w <- arbor.system.shutdown app/sub"
      ])
      expect(spans.every((span) => span.status._tag === "Ended")).toBe(true)
    }))

  it.effect("with Effect's default tracer, which records nothing, Arbor makes none: a startup runs in its declaration's span", () =>
    Effect.gen(function*() {
      let seen: string | undefined
      const startup = Effect.flatMap(Effect.currentSpan, (span) => {
        seen = span.name
        return MainLoop.run(Lifecycle.settling)
      })
      const toplevel = Toplevel.make("app", System.make((scope) => Effect.asVoid(scope.child("w", startup))))
      const run = yield* launch(toplevel).pipe(Effect.withSpan("the caller's"))
      yield* eventually(() => seen !== undefined, "started")
      yield* shutdown(toplevel, run)
      expect(seen).toBe("the caller's")
    }))
})

describe("reportStall", () => {
  it.effect("puts a watchdog's stall among the tree's events, with its stack", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a"]))
      const recorder = yield* recordEvents(toplevel)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("a") === 1, "started")
      const stack = ["buildReport (file:///app/report.js:12:5)", "handle (file:///app/server.js:40:3)"]
      yield* toplevel.reportStall({ stalledForMillis: 1500, where: stack[0]!, stack })
      yield* shutdown(toplevel, run)
      const stall = (yield* Fiber.join(recorder)).find((event) => event._tag === "StallDetected")
      expect(stall).toEqual({ _tag: "StallDetected", path: "app", at: 0, stalledForMillis: 1500, where: stack[0], stack })
    }))
})

describe("reportControl", () => {
  it.effect("announces who asked for a control action, logged at Info, before the action's own events", () =>
    withCapturedLogs((lines) => Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]))
      const recorder = yield* recordEvents(toplevel)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      yield* toplevel.reportControl({ action: "terminate", path: "app/b", by: "alice" })
      yield* toplevel.terminateChild("app/b")
      yield* shutdown(toplevel, run)
      const events = (yield* Fiber.join(recorder)).map((event) => `${event._tag} ${event.path}`)
      const asked = events.indexOf("ControlRequested app/b")
      expect(asked).toBeGreaterThan(0)
      expect(events.slice(asked, asked + 3)).toEqual(["ControlRequested app/b", "ChildSettling app/b", "ChildExited app/b"])
      expect(lines).toContainEqual(expect.objectContaining({ level: "Info", text: "app/b: terminate requested by alice", path: "app/b" }))
    })))
})

describe("a stalled child", () => {
  it.effect("is announced by StallDetected at its own path, then its ChildExited with the Stalled cause", () =>
    Effect.gen(function*() {
      const stalled = new Errors.Stalled({
        path: "app/w",
        stalledForMillis: 2100,
        threshold: "2s",
        where: "spin (file:///app/jobs.ts:3:9)",
        stack: ["spin (file:///app/jobs.ts:3:9)"]
      })
      const toplevel = Toplevel.make("app", System.make((scope) =>
        scope.child("w", MainLoop.spawn(Effect.fail(stalled)), { restart: "temporary" })
      ))
      const recorder = yield* recordEvents(toplevel)
      const run = yield* launch(toplevel)
      yield* quiesce
      yield* shutdown(toplevel, run)
      const events = (yield* Fiber.join(recorder)).filter((event) => event._tag === "StallDetected" || event._tag === "ChildExited")
      expect(events.map((event) => event._tag)).toEqual(["StallDetected", "ChildExited"])
      expect(events[0]).toEqual({
        _tag: "StallDetected",
        path: "app/w",
        at: 0,
        stalledForMillis: 2100,
        where: "spin (file:///app/jobs.ts:3:9)",
        stack: ["spin (file:///app/jobs.ts:3:9)"]
      })
      expect(events[1]).toMatchObject({ path: "app/w", exit: "failure", message: "Stalled: " + stalled.message })
    }))
})
