import { describe, expect, it } from "@effect/vitest"
import { Errors, System, Toplevel } from "@arbor/core"
import { Deferred, Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { eventually, flat, launch, Probe, quiesce, shutdown } from "./helpers.ts"

const tree = (probe: Probe) =>
  System.make((scope) =>
    Effect.gen(function*() {
      yield* scope.child("db", probe.worker("db"))
      yield* scope.child("cache", probe.worker("cache"), { restart: "transient" })
      yield* scope.child("job", probe.worker("job"), { restart: "temporary" })
      yield* scope.system("api", flat(probe, ["http", "grpc"]), { strategy: "one_for_one" })
      yield* scope.pool("tasks")
    })
  )

const running = (probe: Probe) => eventually(() => probe.startsOf("grpc") === 1, "tree started")

describe("child administration", () => {
  it.effect("whichChildren lists the children of a system or pool with kind, policy, state and restarts", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", tree(probe))
      const run = yield* launch(toplevel)
      yield* running(probe)
      expect(yield* toplevel.whichChildren("app")).toEqual([
        { name: "db", path: "app/db", kind: "worker", restart: "permanent", state: "running", restarts: 0 },
        { name: "cache", path: "app/cache", kind: "worker", restart: "transient", state: "running", restarts: 0 },
        { name: "job", path: "app/job", kind: "worker", restart: "temporary", state: "running", restarts: 0 },
        { name: "api", path: "app/api", kind: "system", restart: "permanent", state: "running", restarts: 0 },
        { name: "tasks", path: "app/tasks", kind: "pool", restart: "permanent", state: "running", restarts: 0 }
      ])
      expect((yield* toplevel.whichChildren("app/api")).map((c) => c.path)).toEqual(["app/api/http", "app/api/grpc"])
      expect(yield* toplevel.countChildren("app")).toEqual({ specs: 5, active: 5, workers: 3, systems: 1, pools: 1, restarting: 0 })
      yield* probe.crash("grpc")
      yield* eventually(() => probe.startsOf("grpc") === 2, "grpc restarted")
      expect((yield* toplevel.whichChildren("app/api"))[1]).toMatchObject({ state: "running", restarts: 1 })
      yield* shutdown(toplevel, run)
    }))

  it.effect("an unknown path, a worker's path, and a tree not running answer NotFound", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", tree(probe))
      expect(yield* Effect.flip(toplevel.whichChildren("app"))).toBeInstanceOf(Errors.NotFound)
      const run = yield* launch(toplevel)
      yield* running(probe)
      for (const path of ["nope", "app/nope", "app/db", "other/api", "app/api/nope/x"]) {
        const error = yield* Effect.flip(toplevel.whichChildren(path))
        expect(error).toEqual(new Errors.NotFound({ path }))
      }
      expect(yield* Effect.flip(toplevel.terminateChild("app/api/nope"))).toEqual(new Errors.NotFound({ path: "app/api/nope" }))
      expect(yield* Effect.flip(toplevel.restartChild("app"))).toBeInstanceOf(Errors.NotFound)
      yield* shutdown(toplevel, run)
      expect(yield* Effect.flip(toplevel.countChildren("app"))).toBeInstanceOf(Errors.NotFound)
    }))

  it.effect("a transient child stopped by terminateChild stays stopped until restartChild", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", tree(probe))
      const run = yield* launch(toplevel)
      yield* running(probe)
      probe.clear()
      yield* toplevel.terminateChild("app/cache")
      expect(probe.journal).toEqual(["settle cache", "exit cache normal"])
      yield* quiesce
      expect(probe.startsOf("cache")).toBe(1)
      expect((yield* toplevel.whichChildren("app"))[1]).toMatchObject({ name: "cache", state: "stopped" })
      expect(yield* toplevel.countChildren("app")).toMatchObject({ specs: 5, active: 4 })
      yield* toplevel.restartChild("app/cache")
      expect(probe.startsOf("cache")).toBe(2)
      expect((yield* toplevel.whichChildren("app"))[1]).toMatchObject({ name: "cache", state: "running", restarts: 1 })
      yield* shutdown(toplevel, run)
    }))

  it.effect("terminating a permanent child does not restart it or its siblings", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", tree(probe))
      const run = yield* launch(toplevel)
      yield* running(probe)
      yield* toplevel.terminateChild("app/db")
      yield* toplevel.terminateChild("app/db")
      yield* quiesce
      expect([probe.startsOf("db"), probe.startsOf("cache")]).toEqual([1, 1])
      expect(run.pollUnsafe()).toBeUndefined()
      yield* shutdown(toplevel, run)
    }))

  it.effect("restartChild of a running child fails with Running; of a terminated temporary child with NotFound", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", tree(probe))
      const run = yield* launch(toplevel)
      yield* running(probe)
      expect(yield* Effect.flip(toplevel.restartChild("app/db"))).toEqual(new Errors.Running({ path: "app/db" }))
      expect(yield* Effect.flip(toplevel.restartChild("app/api/http"))).toEqual(new Errors.Running({ path: "app/api/http" }))
      yield* toplevel.terminateChild("app/job")
      expect((yield* toplevel.whichChildren("app")).map((c) => c.name)).toEqual(["db", "cache", "api", "tasks"])
      expect(yield* Effect.flip(toplevel.restartChild("app/job"))).toEqual(new Errors.NotFound({ path: "app/job" }))
      yield* shutdown(toplevel, run)
    }))

  it.effect("terminateChild and restartChild reach into subsystems", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", tree(probe))
      const run = yield* launch(toplevel)
      yield* running(probe)
      const grpc = probe.mainOf("grpc")
      yield* toplevel.terminateChild("app/api/http")
      expect(yield* toplevel.countChildren("app/api")).toMatchObject({ specs: 2, active: 1 })
      yield* toplevel.restartChild("app/api/http")
      expect(probe.startsOf("http")).toBe(2)
      expect(probe.mainOf("grpc")).toBe(grpc)
      yield* shutdown(toplevel, run)
    }))

  it.effect("restartChild reports a failed startup and leaves the child stopped", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const failLater = Effect.suspend(() => probe.startsOf("w") > 1 ? Effect.fail("broken config") : Effect.void)
      const toplevel = Toplevel.make("app", System.make((scope) => scope.child("w", probe.worker("w", { setup: failLater }))))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("w") === 1, "started")
      yield* toplevel.terminateChild("app/w")
      const error = yield* Effect.flip(toplevel.restartChild("app/w"))
      expect(error).toBeInstanceOf(Errors.StartupFailed)
      expect(error).toMatchObject({ path: "app/w" })
      expect((yield* toplevel.whichChildren("app"))[0]).toMatchObject({ state: "stopped" })
      expect(run.pollUnsafe()).toBeUndefined()
      yield* shutdown(toplevel, run)
    }))

  it.effect("a group restart replays a terminated child's declaration and so starts it again", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      yield* toplevel.terminateChild("app/a")
      yield* probe.crash("b")
      yield* eventually(() => probe.startsOf("b") === 2, "restarted")
      expect(probe.startsOf("a")).toBe(2)
      toplevel.shutdownToken.signal()
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
    }))
})

describe("exitChild", () => {
  it.effect("ends a running child with the given exit, which its supervisor handles as the child's own", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", tree(probe))
      const run = yield* launch(toplevel)
      yield* running(probe)
      yield* toplevel.exitChild("app/api/grpc", Exit.fail(new Error("injected")))
      yield* eventually(() => probe.startsOf("grpc") === 2, "grpc restarted")
      expect(probe.entries("exit")).toContain("exit grpc interrupted")
      const grpc = (yield* toplevel.snapshot).root.children?.find((c) => c.name === "api")?.children?.[1]
      expect(grpc?.lastExit).toMatchObject({ kind: "failure", message: "Error: injected" })
      // A normal exit of a transient child: it stays down.
      yield* toplevel.exitChild("app/cache", Exit.void)
      yield* quiesce
      expect(probe.startsOf("cache")).toBe(1)
      expect((yield* toplevel.whichChildren("app"))[1]).toMatchObject({ name: "cache", state: "stopped" })
      expect(yield* Effect.flip(toplevel.exitChild("app/cache", Exit.void))).toBeInstanceOf(Errors.NotFound)
      yield* shutdown(toplevel, run)
    }))
})

describe("child administration during a group restart", () => {
  it.effect("restartChild of a child whose group waits for its backoff answers Running; the replay starts it", () =>
    Effect.gen(function*() {
      // Found by the model-based tests: starting it meanwhile left it running outside the replayed
      // generation, so a replay that then failed could not stop it in reverse order.
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]), { backoff: Schedule.spaced("1 second") })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      yield* probe.crash("a")
      yield* quiesce
      expect((yield* toplevel.whichChildren("app")).map((c) => c.state)).toEqual(["stopped", "stopped"])
      expect(yield* Effect.flip(toplevel.restartChild("app/b"))).toEqual(new Errors.Running({ path: "app/b" }))
      expect(probe.startsOf("b")).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.startsOf("b") === 2, "the replay started b")
      yield* shutdown(toplevel, run)
    }))

  it.effect("a system shows as restarting while it stops the group of a restart, not only while it waits", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("slow", probe.worker("slow", { settles: false }), { shutdown: "2 seconds" })
          yield* scope.child("crashy", probe.worker("crashy"))
        })
      )
      const toplevel = Toplevel.make("app", System.make((scope) => scope.system("sub", tree)))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("crashy") === 1, "started")
      yield* probe.crash("crashy")
      yield* eventually(() => probe.journal.includes("settle slow"), "slow asked to settle")
      expect((yield* toplevel.whichChildren("app"))[0]).toMatchObject({ name: "sub", state: "restarting" })
      expect((yield* toplevel.whichChildren("app/sub"))[0]).toMatchObject({ name: "slow", state: "settling" })
      yield* TestClock.adjust("2 seconds")
      yield* eventually(() => probe.startsOf("crashy") === 2, "restarted")
      expect((yield* toplevel.whichChildren("app"))[0]).toMatchObject({ name: "sub", state: "running" })
      toplevel.shutdownToken.signal()
      yield* TestClock.adjust("2 seconds")
      expect(Exit.isSuccess(yield* Fiber.await(run))).toBe(true)
    }))
})

describe("restartChild meeting a group restart", () => {
  it.effect("a replay stops a kept child still starting on request, then starts it afresh: never two incarnations", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      let slow = false
      const gate = yield* Deferred.make<void>()
      const hold = Effect.suspend(() => slow ? Deferred.await(gate) : Effect.void)
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("a", probe.worker("a", { setup: hold }))
          yield* scope.child("b", probe.worker("b"))
        })
      )
      const toplevel = Toplevel.make("app", tree, { strategy: "rest_for_one", backoff: Schedule.spaced("1 second") })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "started")
      yield* toplevel.terminateChild("app/a")
      yield* probe.crash("b")
      yield* quiesce
      slow = true
      const request = yield* Effect.forkChild(Effect.flip(toplevel.restartChild("app/a")), { startImmediately: true })
      yield* eventually(() => probe.startsOf("a") === 2, "a starting on request")
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.startsOf("a") === 3, "the replay starts a afresh")
      // The request's incarnation was stopped by the replay: it did not become a running child.
      expect(yield* Fiber.join(request)).toBeInstanceOf(Errors.NotFound)
      slow = false
      yield* Deferred.succeed(gate, undefined)
      yield* eventually(() => probe.startsOf("b") === 2, "b started again")
      expect(probe.entries("exit")).toEqual(["exit a normal", "exit b failure"])
      yield* shutdown(toplevel, run)
    }))
})

describe("inspect", () => {
  const inspected = (probe: Probe) =>
    System.make((scope) =>
      Effect.gen(function*() {
        yield* scope.child("db", probe.worker("db"), { shutdown: "2 seconds", startTimeout: "30 seconds" })
        yield* scope.system("api", flat(probe, ["http", "grpc"]), {
          strategy: "one_for_one",
          intensity: { maxRestarts: 3, within: "10 seconds" },
          backoff: Schedule.spaced("1 second")
        })
        const tasks = yield* scope.pool("tasks", { maxChildren: 500, wait: "5 seconds", restart: "permanent" })
        yield* Effect.forEach(Array.from({ length: 250 }, (_, i) => i), () => tasks.spawn(probe.worker("task")), { discard: true })
      })
    )

  it.effect("tells a child's settings and how close its system is to giving up, as restarts come and leave the window", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", inspected(probe))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("task") === 250, "tree started")
      const db = yield* toplevel.inspect("app/db")
      expect(db.node).toMatchObject({ path: "app/db", kind: "worker", state: "running", restarts: 0 })
      expect(db.settings).toEqual({ shutdown: "2s", startTimeout: "30s", significant: false })
      expect(db.supervisor).toEqual({ path: "app", restarts: 0, maxRestarts: 3, within: "5s", backoff: false })
      expect(db.intensity).toBeUndefined()

      yield* probe.crash("grpc")
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.startsOf("grpc") === 2, "grpc restarted")
      yield* TestClock.adjust("3 seconds")
      yield* probe.crash("http")
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.startsOf("http") === 2, "http restarted")
      const api = yield* toplevel.inspect("app/api")
      expect(api.intensity).toEqual({ path: "app/api", restarts: 2, maxRestarts: 3, within: "10s", backoff: true })
      expect(api.autoShutdown).toBe("never")
      expect(api.settings).toEqual({ shutdown: "infinity", significant: false })
      expect(api.node.children?.map((child) => child.restarts)).toEqual([1, 1])
      expect((yield* toplevel.inspect("app/api/grpc")).supervisor?.restarts).toBe(2)
      // The window slides: the first restart leaves it 10 seconds after it was made.
      yield* TestClock.adjust("6 seconds")
      expect((yield* toplevel.inspect("app/api")).intensity?.restarts).toBe(1)
      yield* TestClock.adjust("5 seconds")
      expect((yield* toplevel.inspect("app/api")).intensity?.restarts).toBe(0)
      yield* shutdown(toplevel, run)
    }))

  it.effect("reads a pool's children a page at a time, beyond the snapshot's limit, with its counts and options", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", inspected(probe))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("task") === 250, "tree started")
      const first = yield* toplevel.inspect("app/tasks")
      expect(first.node.counts).toEqual({ children: 250, running: 250, restarting: 0, waiting: 0 })
      expect(first.node.children).toHaveLength(100)
      expect([first.maxChildren, first.wait]).toEqual([500, "5s"])
      const last = yield* toplevel.inspect("app/tasks", { offset: 200, limit: 100 })
      expect(last.offset).toBe(200)
      expect(last.node.children?.map((child) => child.name)).toEqual(Array.from({ length: 50 }, (_, i) => String(201 + i)))
      const child = yield* toplevel.inspect("app/tasks/7")
      expect(child.settings).toEqual({ shutdown: "5s", significant: false })
      expect(child.supervisor).toMatchObject({ path: "app/tasks", restarts: 0 })
      const root = yield* toplevel.inspect("app", { limit: 2 })
      expect(root.node.children?.map((child) => child.name)).toEqual(["db", "api"])
      expect(root.intensity).toEqual({ path: "app", restarts: 0, maxRestarts: 3, within: "5s", backoff: false })
      expect(root.supervisor).toBeUndefined()
      yield* shutdown(toplevel, run)
    }))

  it.effect("answers NotFound for a path that names no child, and InvalidOptions for a bad page", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const toplevel = Toplevel.make("app", inspected(probe))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("task") === 250, "tree started")
      for (const path of ["nope", "app/nope", "app/db/x", "app/tasks/9999"]) {
        expect(yield* Effect.flip(toplevel.inspect(path))).toEqual(new Errors.NotFound({ path }))
      }
      for (const page of [{ offset: -1 }, { limit: 1.5 }]) {
        const error = yield* Effect.flip(toplevel.inspect("app/tasks", page))
        expect(error).toBeInstanceOf(Errors.InvalidOptions)
        expect(error).toMatchObject({ path: "app/tasks" })
      }
      yield* shutdown(toplevel, run)
    }))
})

describe("every child of the declaration list stays visible through a group restart", () => {
  const names = (children: ReadonlyArray<Toplevel.ChildInfo>) => children.map((c) => `${c.name}:${c.state}`)
  const snapshotNames = (toplevel: Toplevel.Toplevel<never>) =>
    Effect.map(toplevel.snapshot, (snapshot) => (snapshot.root.children ?? []).map((c) => `${c.name}:${c.state}`))

  for (const strategy of ["rest_for_one", "one_for_all"] as const) {
    it.effect(`${strategy}: a failed replay waiting for its next try still lists, counts and administers every child`, () =>
      Effect.gen(function*() {
        // OTP's supervisor_SUITE hanging_restart_loop_rest_for_one, with a backoff between tries.
        const probe = new Probe()
        let failChild2 = false
        const refuse = Effect.suspend(() => failChild2 ? Effect.fail("child2 cannot start") : Effect.void)
        const tree = System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("child1", probe.worker("child1"))
            yield* scope.child("child2", probe.worker("child2", { setup: refuse }))
            yield* scope.child("child3", probe.worker("child3"))
          })
        )
        const toplevel = Toplevel.make("top", tree, {
          strategy,
          backoff: Schedule.spaced("1 second"),
          intensity: { maxRestarts: 100, within: "10 seconds" }
        })
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("child3") === 1, "started")
        failChild2 = true
        yield* probe.crash("child2")
        yield* quiesce
        // The first backoff wait.
        expect(names(yield* toplevel.whichChildren("top"))).toEqual(
          strategy === "rest_for_one"
            ? ["child1:running", "child2:stopped", "child3:stopped"]
            : ["child1:stopped", "child2:stopped", "child3:stopped"]
        )
        expect(yield* Effect.flip(toplevel.restartChild("top/child3"))).toEqual(new Errors.Running({ path: "top/child3" }))
        // The first replay fails at child2; the next try waits for its backoff.
        yield* TestClock.adjust("1500 millis")
        yield* quiesce
        expect(probe.startsOf("child2")).toBe(2)
        expect(probe.startsOf("child3")).toBe(1)
        const waiting = strategy === "rest_for_one"
          ? ["child1:running", "child2:stopped", "child3:stopped"]
          : ["child1:stopped", "child2:stopped", "child3:stopped"]
        expect(names(yield* toplevel.whichChildren("top"))).toEqual(waiting)
        expect(yield* toplevel.countChildren("top")).toEqual({
          specs: 3,
          active: strategy === "rest_for_one" ? 1 : 0,
          workers: 3,
          systems: 0,
          pools: 0,
          restarting: 0
        })
        expect(yield* snapshotNames(toplevel)).toEqual(waiting)
        expect(yield* Effect.flip(toplevel.restartChild("top/child3"))).toEqual(new Errors.Running({ path: "top/child3" }))
        expect(yield* Effect.flip(toplevel.restartChild("top/child2"))).toEqual(new Errors.Running({ path: "top/child2" }))
        // Terminating a child the replay will start does what the docs say: nothing runs, the replay starts it.
        yield* toplevel.terminateChild("top/child3")
        expect(probe.startsOf("child3")).toBe(1)
        failChild2 = false
        yield* TestClock.adjust("1 second")
        yield* eventually(() => probe.startsOf("child3") === 2, "the replay started child3")
        expect(names(yield* toplevel.whichChildren("top"))).toEqual(["child1:running", "child2:running", "child3:running"])
        yield* shutdown(toplevel, run)
      }))

    it.effect(`${strategy}: while a replay waits for a suspending startup, the children after it are listed as stopped`, () =>
      Effect.gen(function*() {
        const probe = new Probe()
        const gate = yield* Deferred.make<void>()
        const hold = Effect.suspend(() => probe.startsOf("child2") > 1 ? Deferred.await(gate) : Effect.void)
        const tree = System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("child1", probe.worker("child1"))
            yield* scope.child("child2", probe.worker("child2", { setup: hold }))
            yield* scope.child("child3", probe.worker("child3"))
          })
        )
        const toplevel = Toplevel.make("top", System.make((scope) => scope.system("sub", tree, { strategy })))
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("child3") === 1, "started")
        yield* probe.crash("child2")
        yield* eventually(() => probe.startsOf("child2") === 2, "the replay reached child2")
        yield* quiesce
        const replaying = ["child1:running", "child2:starting", "child3:stopped"]
        expect(names(yield* toplevel.whichChildren("top/sub"))).toEqual(replaying)
        expect(yield* toplevel.countChildren("top/sub")).toEqual({ specs: 3, active: 2, workers: 3, systems: 0, pools: 0, restarting: 0 })
        const sub = (yield* toplevel.snapshot).root.children?.[0]
        expect(sub).toMatchObject({ name: "sub", state: "restarting" })
        expect(sub?.children?.map((c) => `${c.name}:${c.state}`)).toEqual(replaying)
        expect(yield* Effect.flip(toplevel.restartChild("top/sub/child3"))).toEqual(new Errors.Running({ path: "top/sub/child3" }))
        expect(yield* Effect.flip(toplevel.restartChild("top/sub/child2"))).toEqual(new Errors.Running({ path: "top/sub/child2" }))
        yield* toplevel.terminateChild("top/sub/child3")
        yield* Deferred.succeed(gate, undefined)
        yield* eventually(() => probe.startsOf("child3") === 2, "the replay started child3")
        expect(names(yield* toplevel.whichChildren("top/sub"))).toEqual(["child1:running", "child2:running", "child3:running"])
        yield* shutdown(toplevel, run)
      }))
  }

  it.effect("a child the replay does not declare again disappears only once the replay's declaration has finished", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const gate = yield* Deferred.make<void>()
      let runs = 0
      const hold = Effect.suspend(() => probe.startsOf("b") > 1 ? Deferred.await(gate) : Effect.void)
      const tree = System.make((scope) =>
        Effect.gen(function*() {
          runs++
          yield* scope.child("a", probe.worker("a"))
          yield* scope.child("b", probe.worker("b", { setup: hold }))
          if (runs === 1) yield* scope.child("legacy", probe.worker("legacy"))
          yield* scope.child("c", probe.worker("c"))
        })
      )
      const toplevel = Toplevel.make("app", tree)
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("c") === 1, "started")
      yield* probe.crash("a")
      yield* eventually(() => probe.startsOf("b") === 2, "the replay reached b")
      yield* quiesce
      expect(names(yield* toplevel.whichChildren("app"))).toEqual(["a:running", "b:starting", "legacy:stopped", "c:stopped"])
      yield* Deferred.succeed(gate, undefined)
      yield* eventually(() => probe.startsOf("c") === 2, "the replay declared c")
      yield* quiesce
      expect(names(yield* toplevel.whichChildren("app"))).toEqual(["a:running", "b:running", "c:running"])
      expect(yield* Effect.flip(toplevel.restartChild("app/legacy"))).toEqual(new Errors.NotFound({ path: "app/legacy" }))
      expect(probe.startsOf("legacy")).toBe(1)
      yield* shutdown(toplevel, run)
    }))
})

describe("terminateChild of a child its system's start waits for", () => {
  // Found by the model-based tests: the declaration was interrupted, so the system failed to start with a
  // StartupFailed naming itself (the first start) and an interruption for cause.
  const slowTree = (probe: Probe, gate: Deferred.Deferred<void>, slowFrom: number) =>
    System.make((scope) =>
      Effect.gen(function*() {
        yield* scope.child("a", probe.worker("a"))
        const hold = Effect.suspend(() => probe.startsOf("b") >= slowFrom ? Deferred.await(gate) : Effect.void)
        yield* scope.child("b", probe.worker("b", { setup: hold }))
        yield* scope.child("c", probe.worker("c"))
      })
    )

  it.effect("on the first start: the child is stopped and the system fails to start with StartupFailed naming the child", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const gate = yield* Deferred.make<void>()
      const toplevel = Toplevel.make("app", slowTree(probe, gate, 1))
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("b") === 1, "b starting")
      yield* toplevel.terminateChild("app/b")
      const exit = yield* Fiber.await(run)
      const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      expect(error?._tag === "Fail" && error.error).toMatchObject({ _tag: "StartupFailed", path: "app/b" })
      expect(probe.startsOf("c")).toBe(0)
      expect(probe.entries("exit")).toEqual(["exit a normal"])
    }))

  it.effect("during a replay: the replay counts as failed and is tried again, starting the child afresh", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const gate = yield* Deferred.make<void>()
      const toplevel = Toplevel.make("app", slowTree(probe, gate, 2), { backoff: Schedule.spaced("1 second") })
      const run = yield* launch(toplevel)
      yield* eventually(() => probe.startsOf("c") === 1, "started")
      yield* probe.crash("a")
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.startsOf("b") === 2, "the replay waits for b")
      yield* toplevel.terminateChild("app/b")
      expect(run.pollUnsafe()).toBeUndefined()
      yield* Deferred.succeed(gate, undefined)
      yield* TestClock.adjust("1 second")
      yield* eventually(() => probe.startsOf("c") === 2, "the next replay started every child")
      expect(probe.startsOf("b")).toBe(3)
      yield* shutdown(toplevel, run)
    }))
})
