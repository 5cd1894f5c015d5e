/**
 * The semantics of a cluster singleton, in memory (effect/cluster's test
 * runner) and under TestClock: where its tree runs, its fencing tokens, what
 * happens when it gives up, when ownership moves and comes back, when the
 * runner stops, and bad options.
 */
import { ClusterRunner, ClusterToplevel, Ownership, SingletonMetrics } from "@arbor/cluster"
import { Errors, type LifecycleEvent, System } from "@arbor/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Metric, Schedule, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { eventually, Probe } from "../../core/test/helpers.ts"
import { movableRunner } from "./helpers.ts"

/** Moves the clock in small steps until `predicate` holds: effect/cluster's loops take a few turns to act. */
const until = (predicate: () => boolean, what: string) =>
  Effect.gen(function*() {
    for (let step = 0; step < 600; step++) {
      if (predicate()) return
      yield* TestClock.adjust("50 millis")
    }
    return yield* Effect.die(new Error(`never happened: ${what}`))
  })

/** A tree of two workers, `a` then `b`, that records its fencing token at each start. */
const tree = (probe: Probe, tokens: Array<number>) =>
  System.make((scope) =>
    Effect.gen(function*() {
      const { fencingToken } = yield* Ownership.Ownership
      tokens.push(fencingToken)
      yield* scope.child("a", probe.worker("a"))
      yield* scope.child("b", probe.worker("b"))
    })
  )

/** Every event of the singleton from now on, collected. */
const collect = (singleton: ClusterToplevel.ClusterToplevel<never>) =>
  Effect.gen(function*() {
    const events: Array<LifecycleEvent.LifecycleEvent> = []
    yield* Effect.forkChild(Stream.runForEach(singleton.events, (event) => Effect.sync(() => events.push(event))), { startImmediately: true })
    return events
  })

const tags = (events: ReadonlyArray<LifecycleEvent.LifecycleEvent>, wanted: ReadonlyArray<string>) =>
  events.filter((event) => wanted.includes(event._tag)).map((event) => event._tag)

describe("ClusterToplevel.singleton", () => {
  it.effect("on the runner that owns it, the whole tree starts with fencing token 1; the snapshot tells the owner", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tokens: Array<number> = []
      // The tree reads Ownership, which the singleton provides: it needs nothing more.
      const singleton: ClusterToplevel.ClusterToplevel<never> = ClusterToplevel.singleton("scheduler", tree(probe, tokens))
      const events = yield* collect(singleton)
      yield* Effect.forkChild(singleton.start(), { startImmediately: true })
      yield* until(() => probe.entries("start").length === 2, "the tree started")
      expect(tokens).toEqual([1])
      const snapshot = yield* singleton.snapshot
      expect(snapshot.root.state).toBe("running")
      expect(snapshot.root.children?.map((child) => child.path)).toEqual(["scheduler/a", "scheduler/b"])
      expect(snapshot.cluster).toMatchObject({
        singleton: "scheduler",
        runner: "localhost:34431",
        role: "owner",
        owner: "localhost:34431",
        fencingToken: 1,
        store: { available: true }
      })
      const acquired = events.find((event) => event._tag === "OwnershipAcquired")
      expect(acquired).toMatchObject({ runner: "localhost:34431", fencingToken: 1, previousOwner: null })
      expect(yield* singleton.whichChildren("scheduler")).toHaveLength(2)
    }).pipe(Effect.provide(ClusterRunner.layerTest)))

  it.effect("the shutdown token settles the tree in reverse order, then start() succeeds; the event says the runner stops", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const singleton = ClusterToplevel.singleton("scheduler", tree(probe, []))
      const events = yield* collect(singleton)
      const running = yield* Effect.forkChild(singleton.start(), { startImmediately: true })
      yield* until(() => probe.entries("start").length === 2, "the tree started")
      singleton.shutdownToken.signal()
      yield* until(() => running.pollUnsafe() !== undefined, "start() ended")
      expect(running.pollUnsafe()).toEqual(Exit.void)
      expect(probe.journal.filter((entry) => !entry.startsWith("start"))).toEqual([
        "settle b",
        "exit b normal",
        "settle a",
        "exit a normal"
      ])
      expect(events.find((event) => event._tag === "OwnershipReleased")).toMatchObject({ fencingToken: 1, reason: "this runner stops" })
      expect((yield* singleton.snapshot).cluster?.role).toBe("leaving")
      expect(yield* Effect.exit(singleton.start())).toEqual(Exit.fail(new Errors.AlreadyStarted({ path: "scheduler" })))
    }).pipe(Effect.provide(ClusterRunner.layerTest)))

  it.effect("a tree that gives up starts again after the backoff, with a new fencing token; events and metrics say so", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tokens: Array<number> = []
      const singleton = ClusterToplevel.singleton("scheduler", tree(probe, tokens), {
        intensity: { maxRestarts: 0, within: "1 second" },
        restartBackoff: Schedule.spaced("10 seconds")
      })
      const events = yield* collect(singleton)
      yield* Effect.forkChild(singleton.start(), { startImmediately: true })
      yield* until(() => probe.entries("start").length === 2, "the tree started")
      yield* probe.crash("b")
      yield* until(() => events.some((event) => event._tag === "SingletonRestarting"), "the restart announced")
      expect(events.find((event) => event._tag === "SingletonRestarting")).toMatchObject({
        fencingToken: 1,
        delayMillis: 10_000,
        message: expect.stringContaining("TooManyRestarts")
      })
      expect((yield* singleton.snapshot).root.state).toBe("stopped")
      expect((yield* singleton.snapshot).cluster?.role).toBe("owner")
      yield* TestClock.adjust("9 seconds")
      expect(tokens).toEqual([1])
      yield* until(() => tokens.length === 2, "the tree started again")
      expect(tokens).toEqual([1, 2])
      expect(tags(events, ["OwnershipAcquired", "OwnershipReleased", "SingletonRestarting"])).toEqual([
        "OwnershipAcquired",
        "OwnershipReleased",
        "SingletonRestarting",
        "OwnershipAcquired"
      ])
      const restarts = yield* Metric.value(Metric.withAttributes(SingletonMetrics.restarts, { singleton: "scheduler" }))
      expect(restarts.count).toBe(1)
    }).pipe(Effect.provide(ClusterRunner.layerTest), Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("ownership moving away settles the tree, child by child; when it comes back, a fresh tree starts with a new token", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tokens: Array<number> = []
      const { layer, lose, regain } = movableRunner()
      const singleton = ClusterToplevel.singleton("scheduler", tree(probe, tokens))
      yield* Effect.gen(function*() {
        const events = yield* collect(singleton)
        yield* Effect.forkChild(singleton.start(), { startImmediately: true })
        yield* until(() => probe.entries("start").length === 2, "the tree started")
        lose()
        yield* until(() => events.some((event) => event._tag === "OwnershipReleased"), "ownership let go")
        expect(probe.journal.filter((entry) => !entry.startsWith("start"))).toEqual([
          "settle b",
          "exit b normal",
          "settle a",
          "exit a normal"
        ])
        expect(events.find((event) => event._tag === "OwnershipReleased")).toMatchObject({
          reason: "ownership moved, or the lease could not be renewed"
        })
        expect((yield* singleton.snapshot).cluster?.role).toBe("standby")
        regain()
        yield* until(() => tokens.length === 2, "the tree started again")
        expect(tokens).toEqual([1, 2])
        expect((yield* singleton.snapshot).root.state).toBe("running")
        singleton.shutdownToken.signal()
      }).pipe(Effect.provide(layer))
    }))
})

describe("ClusterToplevel.layer", () => {
  it.effect("building it joins the singleton; closing it settles the tree in reverse order; bad options fail the build", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const singleton = ClusterToplevel.singleton("scheduler", tree(probe, []))
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(ClusterToplevel.layer(singleton), scope)
      yield* until(() => probe.entries("start").length === 2, "the tree started")
      yield* Scope.close(scope, Exit.void)
      expect(probe.journal.filter((entry) => !entry.startsWith("start"))).toEqual(["settle b", "exit b normal", "settle a", "exit a normal"])
      const bad = ClusterToplevel.singleton("bad", tree(probe, []), { shardGroup: "" })
      const error = yield* Effect.flip(Layer.build(ClusterToplevel.layer(bad)).pipe(Effect.scoped))
      expect(error.message).toMatch(/^bad: invalid options: .*shardGroup/s)
    }).pipe(Effect.provide(ClusterRunner.layerTest)))
})

describe("bad options", () => {
  it.effect("a singleton's options are checked before it joins: InvalidOptions naming the path", () =>
    Effect.gen(function*() {
      const singleton = ClusterToplevel.singleton("scheduler", System.make(() => Effect.void), {
        intensity: { maxRestarts: -1, within: "1 second" }
      })
      const error = yield* Effect.flip(singleton.start())
      expect(error).toBeInstanceOf(Errors.InvalidOptions)
      expect(error.message).toMatch(/^scheduler: invalid options: .*intensity.*maxRestarts/s)
      const other = ClusterToplevel.singleton("other", System.make(() => Effect.void), { restartBackoff: "soon" as never })
      const failed = yield* Effect.flip(other.start())
      expect(failed).toBeInstanceOf(Errors.InvalidOptions)
      expect((failed as Errors.InvalidOptions).message).toMatch(/^other: invalid options: Expected a Schedule.*restartBackoff/s)
    }).pipe(Effect.provide(ClusterRunner.layerTest)))

  it.effect("a runner's: a negative lease, an unknown storage kind, no port", () =>
    Effect.gen(function*() {
      const lease = yield* Effect.flip(Layer.build(ClusterRunner.layer({ port: 7001, lease: "-5 seconds" })))
      expect(lease.message).toMatch(/^cluster runner: invalid options: must be a positive, finite duration.*lease/s)
      const kind = yield* Effect.flip(Layer.build(ClusterRunner.layer({ port: 7001, storage: { kind: "mysql" } as never })))
      expect(kind.message).toMatch(/^cluster runner: invalid options: unknown storage kind "mysql": "sqlite" or "postgres".*storage.*kind/s)
      const port = yield* Effect.flip(Layer.build(ClusterRunner.layer({} as never)))
      expect(port.message).toMatch(/^cluster runner: invalid options: Missing key.*port/s)
    }).pipe(Effect.scoped))
})

describe("a store that cannot be reached at start", () => {
  it.effect("is a StoreUnavailable, retried with backoff, shown in the singleton's snapshot and events", () =>
    Effect.gen(function*() {
      const singleton = ClusterToplevel.singleton("scheduler", System.make(() => Effect.void))
      const events = yield* collect(singleton)
      const runner = ClusterRunner.layer({ port: 7001, storage: { kind: "sqlite", filename: "/nonexistent/dir/cluster.db" } })
      yield* Effect.gen(function*() {
        yield* Effect.forkChild(singleton.start(), { startImmediately: true })
        yield* until(() => events.some((event) => event._tag === "ClusterStore"), "the store reported")
        const snapshot = yield* singleton.snapshot
        expect(snapshot.cluster?.role).toBe("joining")
        expect(snapshot.cluster?.store.available).toBe(false)
        expect(snapshot.cluster?.store.message).toMatch(
          /^the cluster's store \(sqlite \/nonexistent\/dir\/cluster.db\) is unavailable: cannot open .*; trying again in \d+ ms$/
        )
        const { status: read } = yield* ClusterRunner.ClusterRunner
        const status = yield* read
        expect(status._tag === "Joining" && status.error?._tag).toBe("StoreUnavailable")
        const first = status._tag === "Joining" ? status.error?.retryMillis : undefined
        yield* TestClock.adjust(first ?? 0)
        let again = yield* read
        yield* eventually(() => again._tag === "Joining" && again.error?.retryMillis !== first, "retried")
        again = yield* read
        expect(again._tag === "Joining" && again.error?.retryMillis).toBeGreaterThan(first!)
        singleton.shutdownToken.signal()
      }).pipe(Effect.provide(runner))
    }))
})
