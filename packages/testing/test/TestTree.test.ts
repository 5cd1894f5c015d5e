import { describe, expect, it } from "@effect/vitest"
import { Errors, Lifecycle, MainLoop, Pool, System, Toplevel } from "@arbor/core"
import { TestTree } from "@arbor/testing"
import { Cause, Duration, Effect, Exit, Schedule } from "effect"

/** A worker that runs until asked to settle. */
const worker = MainLoop.spawn(Lifecycle.settling)

/** A worker that ignores settling: only its budget's end stops it. */
const stubborn = MainLoop.spawn(Effect.never)

const workers = (names: ReadonlyArray<string>) =>
  System.make((scope) => Effect.forEach(names, (name) => scope.child(name, worker), { discard: true }))

describe("TestTree", () => {
  it.effect("a crashed child is restarted with its siblings (one_for_all), as the events and the shape show", () =>
    Effect.gen(function*() {
      const tree = yield* TestTree.start(Toplevel.make("app", workers(["db", "api"])))
      yield* tree.expectShape({ db: "running restarts=0", api: "running restarts=0" })
      const before = tree.events.length
      yield* tree.crash("app/api")
      yield* tree.awaitState("app/api", "running")
      yield* tree.expectShape({ db: "running restarts=1", api: "running restarts=1" })
      yield* tree.expectEvents([
        "ChildExited app/api failure restart",
        "SystemRestarting app app/api one_for_all 1/3 0ms",
        "ChildSettling app/db 5s",
        "ChildExited app/db normal stopped",
        "ChildStarting app/db restarts=1",
        "ChildStarted app/db",
        "ChildStarting app/api restarts=1",
        "ChildStarted app/api"
      ], { since: before, mode: "exactly" })
      expect(tree.eventsOf("app/api").map((event) => event._tag)).toEqual([
        "ChildStarting",
        "ChildStarted",
        "ChildExited",
        "ChildStarting",
        "ChildStarted"
      ])
    }))

  it.effect("records the events from the root's first start", () =>
    Effect.gen(function*() {
      const tree = yield* TestTree.start(Toplevel.make("app", workers(["a"])))
      yield* tree.expectEvents(["ChildStarting app restarts=0", "ChildStarting app/a", "ChildStarted app/a", "ChildStarted app"], {
        mode: "exactly"
      })
    }))

  it.effect("each kind of crash reaches the supervisor as that kind of exit", () =>
    Effect.gen(function*() {
      const app = System.make((scope) =>
        Effect.forEach(["f", "d", "n", "i"], (name) => scope.child(name, worker, { restart: "transient" }), { discard: true })
      )
      const tree = yield* TestTree.start(Toplevel.make("app", app, { strategy: "one_for_one" }))
      yield* tree.crash("app/f", "failure")
      yield* tree.crash("app/d", "defect")
      yield* tree.crash("app/n", "normal")
      yield* tree.crash("app/i", "interrupt")
      yield* tree.expectEvents([
        "ChildExited app/f failure restart",
        "ChildExited app/d defect restart",
        "ChildExited app/n normal stay down",
        "ChildExited app/i interrupted restart"
      ])
      yield* tree.expectShape({ f: "running restarts=1", d: "running restarts=1", n: "stopped", i: "running restarts=1" })
      const crash = yield* Effect.flip(tree.crash("app/n"))
      expect(crash).toEqual(new Errors.NotFound({ path: "app/n" }))
    }))

  it.effect("a crash is never lost: a child whose main loop already ended, its exit not yet handled, cannot be crashed again", () =>
    Effect.gen(function*() {
      // An idle supervisor handles an exit at once; this one is busy stopping a stubborn sibling meanwhile.
      const app = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("w", worker)
          yield* scope.child("stubborn", stubborn, { shutdown: "3 seconds" })
        })
      )
      const tree = yield* TestTree.start(Toplevel.make("app", app, { strategy: "one_for_one" }))
      yield* Effect.forkChild(tree.toplevel.terminateChild("app/stubborn"), { startImmediately: true })
      yield* tree.awaitState("app/stubborn", "settling")
      yield* tree.toplevel.exitChild("app/w", Exit.fail("first"))
      const second = yield* Effect.flip(tree.toplevel.exitChild("app/w", Exit.die("second")))
      expect(second).toEqual(new Errors.NotFound({ path: "app/w" }))
      yield* tree.advance("3 seconds")
      yield* tree.awaitState("app/w", "running")
      yield* tree.expectEvents(["ChildExited app/w failure restart", "ChildStarted app/w"])
      yield* tree.expectShape({ w: "running restarts=1", stubborn: "stopped" })
    }))

  it.effect("rest_for_one: the crashed child and those after it restart; those before it run on", () =>
    Effect.gen(function*() {
      const broker = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("connection", worker)
          yield* scope.child("orders", worker)
          yield* scope.child("invoices", worker)
        })
      )
      const app = System.make((scope) => scope.system("broker", broker, { strategy: "rest_for_one" }))
      const tree = yield* TestTree.start(Toplevel.make("app", app))
      const before = tree.events.length
      yield* tree.crash("app/broker/orders")
      yield* tree.awaitState("app/broker/invoices", "running")
      yield* tree.expectShape({
        broker: { connection: "running restarts=0", orders: "running restarts=1", invoices: "running restarts=1" }
      })
      yield* tree.expectEvents([
        "ChildExited app/broker/orders failure restart",
        "SystemRestarting app/broker app/broker/orders rest_for_one",
        "ChildSettling app/broker/invoices",
        "ChildExited app/broker/invoices normal stopped",
        "ChildStarting app/broker/orders restarts=1",
        "ChildStarting app/broker/invoices restarts=1"
      ], { since: before })
      expect(tree.eventsOf("app/broker/connection").slice(2)).toEqual([])
    }))

  it.effect("a backoff delay: restarting while it waits, running once the clock has moved past it", () =>
    Effect.gen(function*() {
      const app = System.make((scope) =>
        scope.system("api", workers(["http", "grpc"]), { strategy: "one_for_one", backoff: Schedule.spaced("2 seconds") })
      )
      const tree = yield* TestTree.start(Toplevel.make("app", app))
      yield* tree.crash("app/api/http")
      yield* tree.awaitState("app/api/http", "restarting")
      yield* tree.expectShape({ api: { http: "restarting", grpc: "running" } })
      yield* tree.advance("1999 millis")
      expect(yield* tree.stateOf("app/api/http")).toBe("restarting")
      const waited = yield* tree.advanceUntil("app/api/http", "running", { step: "1 millis" })
      expect(Duration.toMillis(waited)).toBe(1)
      yield* tree.expectEvents(["SystemRestarting app/api app/api/http one_for_one 1/3 2000ms", "ChildStarted app/api/http"])
      expect(tree.eventsOf("app/api/http").at(-1)).toMatchObject({ _tag: "ChildStarted", at: 2000 })
    }))

  it.effect("a pool: its children by path, a crashed one restarted on its own", () =>
    Effect.gen(function*() {
      const pools: Array<Pool.Pool> = []
      const app = System.make((scope) =>
        Effect.gen(function*() {
          const pool = yield* scope.pool("jobs", { restart: "transient" })
          pools.push(pool)
        })
      )
      const tree = yield* TestTree.start(Toplevel.make("app", app))
      const pool = pools[0]!
      yield* pool.spawn(worker, { name: "a" })
      yield* pool.spawn(worker, { name: "b" })
      yield* tree.expectShape({ jobs: { a: "running", b: "running" } })
      yield* tree.crash("app/jobs/a", "defect")
      yield* tree.awaitState("app/jobs/a", "running")
      yield* tree.crash("app/jobs/b", "normal")
      yield* tree.awaitState("app/jobs/b", "absent")
      yield* tree.expectShape({ jobs: { a: "running restarts=1" } })
      yield* tree.expectEvents(["ChildExited app/jobs/a defect restart", "SystemRestarting app/jobs app/jobs/a pool", "ChildExited app/jobs/b normal stay down"])
    }))

  it.effect("stop settles the tree in reverse order, moving the clock through a stubborn child's budget", () =>
    Effect.gen(function*() {
      const app = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("polite", worker)
          yield* scope.child("stubborn", stubborn, { shutdown: "3 seconds" })
        })
      )
      const tree = yield* TestTree.start(Toplevel.make("app", app))
      const before = tree.events.length
      const exit = yield* tree.stop
      expect(Exit.isSuccess(exit)).toBe(true)
      yield* tree.expectEvents([
        "ShutdownRequested app signal",
        "ChildSettling app/stubborn 3s",
        "ChildInterrupted app/stubborn 3s",
        "ChildExited app/stubborn interrupted stopped",
        "ChildSettling app/polite 5s",
        "ChildExited app/polite normal stopped",
        "ShutdownCompleted app stopped=2 forced=1"
      ], { since: before, mode: "exactly" })
      expect(tree.eventsOf("app/stubborn").find((event) => event._tag === "ChildInterrupted")?.at).toBe(3000)
      expect(yield* tree.stateOf("app")).toBe("stopped")
    }))

  it.effect("the end of the test's scope stops a tree still running", () =>
    Effect.gen(function*() {
      let tree: TestTree.TestTree | undefined
      yield* Effect.scoped(Effect.gen(function*() {
        tree = yield* TestTree.start(Toplevel.make("app", workers(["a", "b"])))
      }))
      expect(yield* tree!.stateOf("app")).toBe("stopped")
      yield* tree!.expectEvents(["ChildExited app/b normal stopped", "ChildExited app/a normal stopped", "ShutdownCompleted app stopped=2 forced=0"])
    }))

  it.effect("an escalation to the top: exit hands the test start()'s failure", () =>
    Effect.gen(function*() {
      const tree = yield* TestTree.start(Toplevel.make("app", workers(["w"]), { intensity: { maxRestarts: 1, within: "1 minute" } }))
      yield* tree.crash("app/w")
      yield* tree.awaitState("app/w", "running")
      yield* tree.crash("app/w")
      const exit = yield* tree.exit
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({ _tag: "TooManyRestarts", path: "app", child: "app/w" })
      yield* tree.expectEvents(["Escalated app TooManyRestarts", "ShutdownCompleted app"])
    }))
})

describe("TestTree fails a test that expects what did not happen", () => {
  const run = <A, E>(test: (tree: TestTree.TestTree) => Effect.Effect<A, E>) =>
    Effect.scoped(Effect.flatMap(TestTree.start(Toplevel.make("app", workers(["db", "api"]))), test))

  it.effect("a shape that differs, with a line diff", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run((tree) => tree.expectShape({ db: "running", cache: "running", api: "stopped" })))
      expect(error.message).toBe([
        "app: the tree's shape differs (- expected, + actual):",
        "  db: running",
        "- cache: running",
        "- api: stopped",
        "+ api: running"
      ].join("\n"))
    }))

  it.effect("a branch expected where a worker is, and a restart count that differs", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run((tree) => tree.expectShape({ db: { conn: "running" }, api: "running restarts=2" })))
      expect(error.diff).toBe(["- db:", "-   conn: running", "- api: running restarts=2", "+ db: running", "+ api: running restarts=0"].join("\n"))
    }))

  it.effect("events that did not happen in that order", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run((tree) => tree.expectEvents(["ChildStarted app/api", "ChildStarted app/db"])))
      expect(error.message).toContain("did not happen in this order")
      expect(error.diff.split("\n").filter((line) => line.startsWith("-"))).toEqual(["- ChildStarted app/api"])
    }))

  it.effect("exactly: an event no pattern matched", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run((tree) =>
        tree.expectEvents(["ChildStarting app", "ChildStarting app/db", "ChildStarted app/db", "ChildStarted app"], { mode: "exactly" })
      ))
      expect(error.diff.split("\n").filter((line) => line.startsWith("+"))).toEqual([
        "+ ChildStarting app/api restarts=0",
        "+ ChildStarted app/api"
      ])
    }))

  it.effect("a state that needs the clock to move, awaited without moving it", () =>
    Effect.gen(function*() {
      const app = System.make((scope) => scope.system("sub", workers(["w"]), { backoff: Schedule.spaced("1 second") }))
      const error = yield* Effect.flip(Effect.scoped(Effect.gen(function*() {
        const tree = yield* TestTree.start(Toplevel.make("app", app), { turns: 200 })
        yield* tree.crash("app/sub/w")
        yield* tree.awaitState("app/sub/w", "running")
      })))
      expect(error).toBeInstanceOf(TestTree.StateNotReached)
      expect(error).toMatchObject({ path: "app/sub/w", expected: "running", actual: "stopped" })
    }))

  it.effect("advanceUntil gives up at its limit", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run((tree) => tree.advanceUntil("app/db", "stopped", { step: "1 second", limit: "5 seconds" })))
      expect(error.message).toBe('app/db: expected "stopped", still "running" after moving the clock on by 5s')
    }))

  it.effect("a tree that does not stop within stopWithin", () =>
    Effect.gen(function*() {
      const app = System.make((scope) => scope.child("forever", stubborn, { shutdown: "infinity" }).pipe(Effect.asVoid))
      const error = yield* Effect.flip(Effect.scoped(Effect.gen(function*() {
        const tree = yield* TestTree.start(Toplevel.make("app", app), { stopWithin: "1 minute" })
        return yield* tree.stop
      })))
      expect(error).toEqual(new TestTree.DidNotStop({ path: "app", within: "1m" }))
    }))

  it.effect("an escalation nobody read fails the test when its scope closes", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
        const tree = yield* TestTree.start(Toplevel.make("app", workers(["w"]), { intensity: { maxRestarts: 0, within: "1 minute" } }))
        yield* tree.crash("app/w")
      })))
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toBeInstanceOf(Errors.TooManyRestarts)
    }))
})
