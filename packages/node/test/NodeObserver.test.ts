/**
 * The observer against a real server on an ephemeral loopback port, read with
 * Node's `fetch`. Each test runs a small tree whose crashes and settling the
 * test scripts. Waits are bounded generously (two noisy cores): they check
 * behaviour, not speed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Errors, HealthGate, Lifecycle, LifecycleEvent, MainLoop, System, Toplevel, TreeSnapshot } from "@arbor/core"
import type { Toplevel as ToplevelModel } from "@arbor/core"
import { NodeObserver } from "@arbor/node"
import { Deferred, Effect, Fiber, Layer, Metric, Queue, Ref, Schedule, Schema } from "effect"

interface Reply {
  readonly status: number
  readonly type: string | null
  readonly body: string
}

const get = (url: string, path: string): Effect.Effect<Reply> =>
  Effect.promise(async () => {
    const response = await fetch(`${url}${path}`)
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

const json = (reply: Reply): any => JSON.parse(reply.body)

/** A POST with an `Authorization` header if given; the reply with its `WWW-Authenticate`. */
const post = (url: string, path: string, authorization?: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}${path}`, { method: "POST", headers: authorization === undefined ? {} : { authorization } })
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      authenticate: response.headers.get("www-authenticate"),
      body: await response.text()
    }
  })

/** Asks again every 50 ms until `done` holds; fails with the last reply after 15 seconds. */
const eventually = (url: string, path: string, done: (reply: Reply) => boolean): Effect.Effect<Reply> =>
  Effect.gen(function*() {
    let last: Reply | undefined
    const attempt = Effect.flatMap(get(url, path), (reply) => {
      last = reply
      return done(reply) ? Effect.succeed(reply) : Effect.fail("not yet")
    })
    return yield* attempt.pipe(
      Effect.retry(Schedule.spaced("50 millis")),
      Effect.orDie,
      Effect.timeoutOrElse({
        duration: "15 seconds",
        orElse: () => Effect.die(new Error(`${path} never answered as expected; last: ${JSON.stringify(last)}`))
      })
    )
  })

/**
 * A tree: `steady` (on shutdown, settles only once the test releases it, so
 * the tree stays `settling` meanwhile) and `crashy` (fails each time the test
 * crashes it).
 */
const scripted = (options?: ToplevelModel.Options) =>
  Effect.gen(function*() {
    const crashes = yield* Queue.unbounded<void>()
    const release = yield* Deferred.make<void>()
    const held = Effect.suspend(() => toplevel.shutdownToken.isSignalled ? Deferred.await(release) : Effect.void)
    const toplevel: Toplevel.Toplevel = Toplevel.make(
      "app",
      System.make((scope) =>
        Effect.gen(function*() {
          yield* scope.child("steady", MainLoop.spawn(Effect.andThen(Lifecycle.settling, held)), { shutdown: "1 minute" })
          const crash = Effect.andThen(Queue.take(crashes), Effect.fail(new Error("scripted crash")))
          yield* scope.child("crashy", MainLoop.spawn(Effect.raceFirst(crash, Lifecycle.settling)))
        })
      ),
      options
    )
    return {
      toplevel,
      crash: Queue.offer(crashes, undefined),
      release: Deferred.succeed(release, undefined),
      /** Asks the tree to stop, lets it settle and waits for the end. */
      stop: (fiber: Fiber.Fiber<void, unknown>) =>
        Effect.andThen(Effect.sync(() => toplevel.shutdownToken.signal()), Deferred.succeed(release, undefined)).pipe(
          Effect.andThen(Fiber.join(fiber))
        )
    }
  })

type Tree = Effect.Success<ReturnType<typeof scripted>>

/**
 * Serves `tree` on a free port with an isolated metric registry, and runs
 * `body` with the observer's URL. The tree is not started: `body` starts it.
 */
const observing = <A, E>(
  tree: Tree,
  body: (url: string) => Effect.Effect<A, E>,
  options: NodeObserver.Options = {}
) =>
  Effect.gen(function*() {
    const { url } = yield* NodeObserver.NodeObserver
    return yield* body(url)
  }).pipe(
    Effect.provide(NodeObserver.layer(tree.toplevel, { ...options, port: 0 })),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

const start = (tree: Tree) => Effect.forkChild(tree.toplevel.start(), { startImmediately: true })

const running = (url: string) => eventually(url, "/readyz", (reply) => reply.status === 200)

/** Runs `body` while the scripted tree runs, served; then stops the tree. */
const whileRunning = <E>(body: (url: string, tree: Tree) => Effect.Effect<void, E>, options?: NodeObserver.Options) =>
  Effect.gen(function*() {
    const tree = yield* scripted()
    yield* observing(tree, (url) =>
      Effect.gen(function*() {
        const fiber = yield* start(tree)
        yield* running(url)
        yield* body(url, tree)
        yield* tree.stop(fiber)
      }), options)
  })

/** Reads a Server-Sent Events response as it arrives. */
const sse = (response: Response) => {
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let text = ""
  let ended = false
  return {
    text: () => text,
    ended: () => ended,
    /** Reads until `done(text)` holds, or the stream ends; fails after 15 seconds. */
    until: (done: (text: string) => boolean) =>
      Effect.promise(async () => {
        const deadline = Date.now() + 15_000
        while (!done(text) && !ended) {
          if (Date.now() > deadline) throw new Error(`timed out; events so far:\n${text}`)
          const chunk = await reader.read()
          if (chunk.done) ended = true
          else text += decoder.decode(chunk.value, { stream: true })
        }
        return text
      }),
    cancel: () => Effect.promise(() => reader.cancel())
  }
}

/** The frames of a Server-Sent Events text (comments left out), checked for framing: `id:`, `event:`, `data:`. */
const parse = (text: string): Array<{ readonly id: number | undefined; readonly event: string; readonly data: unknown }> =>
  text.split("\n\n").filter((frame) => frame.length > 0 && !frame.startsWith(":")).map((frame) => {
    const lines = frame.split("\n")
    const id = lines[0]!.startsWith("id: ") ? Number(lines.shift()!.slice("id: ".length)) : undefined
    const [event, data, ...rest] = lines
    expect(rest).toEqual([])
    expect(event!.startsWith("event: ")).toBe(true)
    expect(data!.startsWith("data: ")).toBe(true)
    return { id, event: event!.slice("event: ".length), data: JSON.parse(data!.slice("data: ".length)) }
  })

/** The lifecycle events of a Server-Sent Events text, each with its `id:`, decoded with the schema. */
const frames = (text: string): Array<LifecycleEvent.LifecycleEvent> =>
  parse(text).filter((frame) => frame.event !== "Gap").map((frame) => {
    const decoded = Schema.decodeUnknownSync(LifecycleEvent.LifecycleEvent)(frame.data)
    expect(frame.event).toBe(decoded._tag)
    expect(frame.id).toBeGreaterThan(0)
    return decoded
  })

/** Opens `/events`, resuming after `lastEventId` when given. */
const openEvents = (url: string, lastEventId?: string) =>
  Effect.promise(() => fetch(`${url}/events`, { headers: lastEventId === undefined ? {} : { "last-event-id": lastEventId } }))

describe("NodeObserver", () => {
  it.live("serves every endpoint with its content type", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
          const fiber = yield* start(tree)
          yield* running(url)

          const metrics = yield* get(url, "/metrics")
          expect(metrics.status).toBe(200)
          expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/)

          const health = yield* get(url, "/healthz")
          expect([health.status, health.type]).toEqual([200, "application/json"])
          expect(json(health)).toEqual({ status: "ok", tree: "running" })

          const ready = yield* get(url, "/readyz")
          expect([ready.status, ready.type]).toEqual([200, "application/json"])
          expect(json(ready)).toEqual({ status: "ready", tree: "running" })

          const snapshot = yield* get(url, "/tree")
          expect([snapshot.status, snapshot.type]).toEqual([200, "application/json"])

          const events = yield* Effect.promise(() => fetch(`${url}/events`))
          expect([events.status, events.headers.get("content-type")]).toEqual([200, "text/event-stream"])
          expect(events.headers.get("cache-control")).toBe("no-store")
          yield* sse(events).cancel()

          const index = yield* get(url, "/")
          expect(index.body).toContain("GET /events")
          expect((yield* get(url, "/nothing-here")).status).toBe(404)
          yield* tree.stop(fiber)
        }))
    }))

  it.live("/readyz answers 503 before the tree runs, 200 while it runs and 503 while it shuts down", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const before = yield* get(url, "/readyz")
          expect(before.status).toBe(503)
          expect(json(before)).toEqual({ status: "not ready", tree: "stopped", reason: "the tree has not started" })
          // Liveness does not depend on the tree: the process serves.
          expect((yield* get(url, "/healthz")).status).toBe(200)

          const fiber = yield* start(tree)
          yield* running(url)

          // `steady` holds the shutdown until released: the tree stays settling meanwhile.
          tree.toplevel.shutdownToken.signal()
          const settling = yield* eventually(url, "/readyz", (reply) => reply.status !== 200)
          expect(settling.status).toBe(503)
          expect(json(settling)).toEqual({ status: "not ready", tree: "settling", reason: "the tree is shutting down" })
          expect(json(yield* get(url, "/healthz"))).toEqual({ status: "ok", tree: "settling" })
          yield* tree.release
          yield* Fiber.join(fiber)

          const after = yield* get(url, "/readyz")
          expect(after.status).toBe(503)
          expect(json(after)).toMatchObject({ tree: "stopped", reason: "the tree has stopped" })
        }))
    }))

  it.live("/readyz answers 503 while the root waits to restart its children", () =>
    Effect.gen(function*() {
      const tree = yield* scripted({ backoff: Schedule.spaced("1 second") })
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          yield* tree.crash
          const restarting = yield* eventually(url, "/readyz", (reply) => reply.status !== 200)
          expect(json(restarting)).toEqual({
            status: "not ready",
            tree: "restarting",
            reason: "the tree is restarting its children"
          })
          yield* running(url)
          yield* tree.stop(fiber)
        }))
    }))

  it.live("a ready check vetoes readiness: false, a failure and no answer in time each make it 503", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      const database = yield* Ref.make(false)
      const ready = {
        database: Ref.get(database),
        cache: Effect.succeed(true)
      }
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          const vetoed = yield* eventually(url, "/readyz", (reply) => json(reply).tree === "running")
          expect(vetoed.status).toBe(503)
          expect(json(vetoed)).toEqual({
            status: "not ready",
            tree: "running",
            reason: "database: not ready",
            checks: { database: "not ready", cache: "ok" }
          })
          yield* Ref.set(database, true)
          const passing = yield* get(url, "/readyz")
          expect(passing.status).toBe(200)
          expect(json(passing)).toEqual({ status: "ready", tree: "running", checks: { database: "ok", cache: "ok" } })
          yield* tree.stop(fiber)
        }), { ready })

      const failing = yield* scripted()
      yield* observing(failing, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(failing)
          const reply = yield* eventually(url, "/readyz", (reply) => json(reply).tree === "running")
          expect(reply.status).toBe(503)
          expect(json(reply).checks).toEqual({ broken: "Error: no connection", slow: "no answer within 200ms" })
          yield* failing.stop(fiber)
        }), {
        ready: { broken: Effect.fail(new Error("no connection")), slow: Effect.as(Effect.never, true) },
        checkTimeout: "200 millis"
      })
    }))

  it.live("a latched health gate makes /readyz 503 with its reason, /metrics shows it, and /healthz stays 200", () =>
    Effect.gen(function*() {
      const gates = yield* Deferred.make<HealthGate.HealthGate>()
      const toplevel = Toplevel.make("app", System.make((scope) =>
        Effect.gen(function*() {
          yield* Deferred.succeed(gates, yield* HealthGate.make("store"))
          yield* scope.child("writer", MainLoop.spawn(Lifecycle.settling))
        })
      ))
      yield* observing({ toplevel } as Tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(toplevel.start(), { startImmediately: true })
          const gate = yield* Deferred.await(gates)
          const ready = yield* running(url)
          expect(json(ready)).toEqual({ status: "ready", tree: "running", gates: { store: { path: "app", state: "healthy", latches: 0 } } })
          yield* gate.record(Object.assign(new Error("no space left on device"), { code: "ENOSPC" }))
          const latched = yield* get(url, "/readyz")
          expect(latched.status).toBe(503)
          expect(json(latched)).toMatchObject({
            status: "not ready",
            tree: "running",
            reason: "health gate store latched: fatal: Error: no space left on device",
            gates: { store: { path: "app", state: "latched", reason: "fatal: Error: no space left on device", latches: 1 } }
          })
          expect((yield* get(url, "/healthz")).status).toBe(200)
          const metrics = (yield* get(url, "/metrics")).body
          expect(metrics).toContain("arbor_health_gate_latched{gate=\"store\"} 1")
          expect(metrics).toContain("arbor_health_gate_latches_total{gate=\"store\"} 1")
          yield* gate.reset
          expect((yield* get(url, "/readyz")).status).toBe(200)
          toplevel.shutdownToken.signal()
          yield* Fiber.join(fiber)
        }))
    }))

  it.live("/healthz shows each health check's value, and answers 503 when one fails", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      const stalled = yield* Ref.make(false)
      const health = {
        watchdog: Effect.flatMap(Ref.get(stalled), (stalled) =>
          stalled ? Effect.fail(new Error("event loop stalled for 12s")) : Effect.succeed({ lastStallMillis: 40 })
        )
      }
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const ok = yield* get(url, "/healthz")
          expect(ok.status).toBe(200)
          expect(json(ok)).toEqual({ status: "ok", tree: "stopped", checks: { watchdog: { lastStallMillis: 40 } } })
          yield* Ref.set(stalled, true)
          const unhealthy = yield* get(url, "/healthz")
          expect(unhealthy.status).toBe(503)
          expect(json(unhealthy)).toEqual({
            status: "unhealthy",
            tree: "stopped",
            checks: { watchdog: { error: "Error: event loop stalled for 12s" } }
          })
        }), { health })
    }))

  it.live("/metrics shows the children by state and counts a scripted crash's restart", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          const before = (yield* get(url, "/metrics")).body
          expect(before).toContain("arbor_children{path=\"app\",state=\"running\"} 2")
          expect(before).not.toContain("arbor_child_restarts_total{path=\"app/crashy\"}")

          yield* tree.crash
          const after = yield* eventually(url, "/metrics", (reply) =>
            reply.body.includes("arbor_child_restarts_total{path=\"app/crashy\"} 1") &&
            reply.body.includes("arbor_children{path=\"app\",state=\"running\"} 2"))
          expect(after.body).toContain("# TYPE arbor_child_restarts_total counter")
          // one_for_all: the sibling was restarted with it.
          expect(after.body).toContain("arbor_child_restarts_total{path=\"app/steady\"} 1")
          // Startups by system: both children, twice each.
          expect(after.body).toMatch(/arbor_child_startup_seconds_count\{path="app"\} 4/)
          yield* tree.stop(fiber)
        }))
    }))

  it.live("/tree answers the snapshot, decodable with the TreeSnapshot schema", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          yield* tree.crash
          const reply = yield* eventually(url, "/tree", (reply) => {
            const crashy = json(reply).root.children?.find((child: TreeSnapshot.Node) => child.name === "crashy")
            return crashy?.restarts === 1 && crashy.state === "running"
          })
          const snapshot = Schema.decodeUnknownSync(Schema.fromJsonString(TreeSnapshot.TreeSnapshot))(reply.body)
          expect(snapshot.root).toMatchObject({ path: "app", kind: "system", state: "running", strategy: "one_for_all" })
          expect(snapshot.root.children!.map((child) => child.path)).toEqual(["app/steady", "app/crashy"])
          expect(snapshot.root.children![1]!.lastExit).toMatchObject({ kind: "failure", message: "Error: scripted crash" })
          yield* tree.stop(fiber)
        }))
    }))

  it.live("/tree lists every child while a replay waits for a slow startup, the children after it as stopped", () =>
    Effect.gen(function*() {
      const crashes = yield* Queue.unbounded<void>()
      const gate = yield* Deferred.make<void>()
      let slowStarts = 0
      const slow = Effect.suspend(() => ++slowStarts > 1 ? Deferred.await(gate) : Effect.void).pipe(
        Effect.andThen(MainLoop.spawn(Lifecycle.settling))
      )
      const crashy = MainLoop.spawn(Effect.raceFirst(Effect.andThen(Queue.take(crashes), Effect.fail(new Error("crash"))), Lifecycle.settling))
      const toplevel = Toplevel.make(
        "app",
        System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("first", crashy)
            yield* scope.child("slow", slow)
            yield* scope.child("last", MainLoop.spawn(Lifecycle.settling))
          })
        )
      )
      const tree = { toplevel } as unknown as Tree
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          yield* Queue.offer(crashes, undefined)
          const states = (reply: Reply) => (json(reply).root.children as Array<TreeSnapshot.Node>).map((c) => `${c.name}:${c.state}`)
          const replaying = yield* eventually(url, "/tree", (reply) => states(reply)[1] === "slow:starting")
          expect(json(replaying).root.state).toBe("restarting")
          expect(states(replaying)).toEqual(["first:running", "slow:starting", "last:stopped"])
          yield* Deferred.succeed(gate, undefined)
          const done = yield* eventually(url, "/tree", (reply) => states(reply)[2] === "last:running")
          expect(states(done)).toEqual(["first:running", "slow:running", "last:running"])
          toplevel.shutdownToken.signal()
          yield* Fiber.join(fiber)
        }))
    }))

  it.live("/events streams each lifecycle event as an SSE frame, and ends when the tree stops", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          const events = sse(yield* Effect.promise(() => fetch(`${url}/events`)))
          // The subscription is taken before the opening comment: nothing after it is missed.
          const opening = yield* events.until((text) => text.includes("\n\n"))
          expect(opening).toBe(": app lifecycle events\n\n")

          yield* tree.crash
          yield* events.until((text) => frames(text).some((e) => e._tag === "ChildStarted" && e.path === "app/crashy"))
          const restart = frames(events.text())
          expect(restart[0]).toMatchObject({ _tag: "ChildExited", path: "app/crashy", exit: "failure", decision: "restart" })
          expect(restart[1]).toMatchObject({ _tag: "SystemRestarting", path: "app", child: "app/crashy", restart: 1 })
          expect(restart.map((e) => `${e._tag} ${e.path}`)).toEqual([
            "ChildExited app/crashy",
            "SystemRestarting app",
            "ChildSettling app/steady",
            "ChildExited app/steady",
            "ChildStarting app/steady",
            "ChildStarted app/steady",
            "ChildStarting app/crashy",
            "ChildStarted app/crashy"
          ])

          yield* tree.stop(fiber)
          const all = frames(yield* events.until(() => false))
          expect(events.ended()).toBe(true)
          expect(all.at(-2)).toMatchObject({ _tag: "ChildExited", path: "app/steady", decision: "stopped" })
          expect(all.at(-1)).toMatchObject({ _tag: "ShutdownCompleted", path: "app", stopped: 2, forced: 0 })
        }))
    }))

  it.live("an /events client gets every event up to ShutdownCompleted when the layer closes right after the tree stopped", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      // As under runMain: the tree stops, then the layer closes at once, while the client has not read yet.
      const events = yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          const events = sse(yield* openEvents(url))
          yield* events.until((text) => text.includes("\n\n"))
          yield* tree.stop(fiber)
          return events
        }))
      const all = frames(yield* events.until(() => false))
      expect(events.ended()).toBe(true)
      expect(all.map((e) => e._tag)).toEqual([
        "ShutdownRequested",
        "ChildSettling",
        "ChildExited",
        "ChildSettling",
        "ChildExited",
        "ShutdownCompleted"
      ])
    }))

  it.live("/events frames carry increasing ids; a client resuming with Last-Event-ID gets what it missed, then the live events", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          const first = sse(yield* openEvents(url))
          yield* tree.crash
          yield* first.until((text) => frames(text).some((e) => e._tag === "ChildStarted" && e.path === "app/crashy"))
          const seen = parse(first.text())
          const ids = seen.map((frame) => frame.id!)
          expect(ids).toEqual(ids.map((_, i) => ids[0]! + i))
          yield* first.cancel()

          // The client left after its third frame; meanwhile the tree restarted again.
          yield* tree.crash
          yield* eventually(url, "/tree", (reply) =>
            json(reply).root.children?.find((child: TreeSnapshot.Node) => child.name === "crashy")?.restarts === 2)
          const resumed = sse(yield* openEvents(url, String(ids[2])))
          yield* resumed.until((text) => parse(text).filter((frame) => frame.event === "ChildStarted").length === 4)
          const replayed = parse(resumed.text())
          // Exactly the frames after the third, with the ids they had, then those of the second restart.
          expect(replayed.slice(0, seen.length - 3)).toEqual(seen.slice(3))
          expect(replayed.map((frame) => frame.id)).toEqual(replayed.map((_, i) => ids[2]! + 1 + i))

          // And live ones after that.
          yield* tree.crash
          yield* resumed.until((text) => parse(text).filter((frame) => frame.event === "SystemRestarting").length === 2)
          yield* resumed.cancel()
          yield* tree.stop(fiber)
        }))
    }))

  it.live("a client further behind than eventBuffer is told so by a Gap frame before the events it can still have", () =>
    Effect.gen(function*() {
      const tree = yield* scripted({ eventBuffer: 3 })
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          yield* tree.crash
          // A restart publishes 8 events: the 6 of the start and those 8 make 14, of which the last 3 are held.
          yield* eventually(url, "/readyz", (reply) => reply.status === 200)
          yield* eventually(url, "/tree", (reply) =>
            json(reply).root.children?.find((child: TreeSnapshot.Node) => child.name === "crashy")?.restarts === 1)
          const resumed = sse(yield* openEvents(url, "2"))
          const [gap, ...rest] = parse(yield* resumed.until((text) => parse(text).length >= 4))
          expect(gap).toEqual({ id: undefined, event: "Gap", data: { _tag: "Gap", missed: 9, after: 2 } })
          expect(rest.map((frame) => frame.id)).toEqual([12, 13, 14])
          yield* resumed.cancel()

          // An id this process never gave (a client of an earlier run): everything held, after a Gap for the rest.
          const stranger = sse(yield* openEvents(url, "90000"))
          const [reset, ...held] = parse(yield* stranger.until((text) => parse(text).length >= 4))
          expect(reset).toEqual({ id: undefined, event: "Gap", data: { _tag: "Gap", missed: 11, after: 90000 } })
          expect(held.map((frame) => frame.id)).toEqual([12, 13, 14])
          yield* stranger.cancel()
          yield* tree.stop(fiber)
        }))
    }))

  it.live("/events sends a heartbeat comment while nothing happens", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          const events = sse(yield* Effect.promise(() => fetch(`${url}/events`)))
          const text = yield* events.until((text) => text.split(": heartbeat\n\n").length > 2)
          expect(text.startsWith(": app lifecycle events\n\n: heartbeat\n\n")).toBe(true)
          yield* events.cancel()
          yield* tree.stop(fiber)
        }), { heartbeat: "100 millis" })
    }))

  it.live("/events?after= resumes like Last-Event-ID, for a client that cannot send the header", () =>
    whileRunning((url) =>
      Effect.gen(function*() {
        const replay = sse(yield* Effect.promise(() => fetch(`${url}/events?after=0`)))
        const held = parse(yield* replay.until((text) => parse(text).some((frame) => frame.event === "ChildStarted" && (frame.data as any).path === "app")))
        expect(held[0]).toMatchObject({ id: 1, event: "ChildStarting" })
        expect(held.map((frame) => frame.id)).toEqual(held.map((_, i) => i + 1))
        yield* replay.cancel()
      })))

  it.live("/node answers a node in depth, with its system's startup-time histogram; 404 for a path that names no child", () =>
    whileRunning((url, tree) =>
      Effect.gen(function*() {
        yield* tree.crash
        yield* eventually(url, "/tree", (reply) =>
          json(reply).root.children?.find((child: TreeSnapshot.Node) => child.name === "crashy")?.restarts === 1)
        const reply = yield* get(url, "/node?path=app/crashy")
        expect([reply.status, reply.type]).toEqual([200, "application/json"])
        const { startup, ...detail } = json(reply)
        const decoded = Schema.decodeUnknownSync(TreeSnapshot.Detail)(detail)
        expect(decoded.node).toMatchObject({ path: "app/crashy", restarts: 1, lastExit: { kind: "failure" } })
        expect(decoded.settings).toEqual({ shutdown: "5s", significant: false })
        expect(decoded.supervisor).toEqual({ path: "app", restarts: 1, maxRestarts: 3, within: "5s", backoff: false })
        // Both children started twice under `app`.
        expect(startup).toMatchObject({ path: "app", count: 4 })
        // The last bucket is `+Inf`, which JSON writes as null.
        expect(startup.buckets.at(-1)).toEqual([null, 4])
        expect(json(yield* get(url, "/node?path=app")).intensity).toMatchObject({ path: "app", restarts: 1 })
        const missing = yield* get(url, "/node?path=app/nope")
        expect([missing.status, json(missing)]).toEqual([404, { error: "app/nope: no such child" }])
        expect((yield* get(url, "/node?path=app&offset=-1")).status).toBe(400)
        expect((yield* get(url, "/node")).status).toBe(400)
      })))

  it.live("/process streams heap, event-loop delay and CPU once a second", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const response = yield* Effect.promise(() => fetch(`${url}/process`))
          expect(response.headers.get("content-type")).toBe("text/event-stream")
          const samples = sse(response)
          const frames = parse(yield* samples.until((text) => parse(text).length >= 2))
          expect(frames.map((frame) => frame.event)).toEqual(["Process", "Process"])
          const [first, second] = frames.map((frame) => frame.data as any)
          expect(second.at - first.at).toBeGreaterThanOrEqual(900)
          expect(first.heapUsed).toBeGreaterThan(0)
          expect(first.heapTotal).toBeGreaterThanOrEqual(first.heapUsed)
          expect(first.eventLoopDelay.p99).toBeGreaterThanOrEqual(first.eventLoopDelay.p50)
          expect(first.cpu).toBeGreaterThanOrEqual(0)
          yield* samples.cancel()
        }))
    }))

  it.live("control actions are off without control tokens: 403, and nothing changes", () =>
    whileRunning((url, tree) =>
      Effect.gen(function*() {
        expect(json(yield* get(url, "/control"))).toEqual({ enabled: false })
        const refused = yield* post(url, "/control/terminate?path=app/crashy", "Bearer anything-at-all-long-enough")
        expect(refused.status).toBe(403)
        expect(json(refused).error).toContain("control actions are off")
        expect((yield* post(url, "/control/shutdown")).status).toBe(403)
        const crashy = json(yield* get(url, "/tree")).root.children[1]
        expect([crashy.state, tree.toplevel.shutdownToken.isSignalled]).toEqual(["running", false])
      })))

  it.live("a control request without the right token gets 401 and changes nothing; with it the action runs, announced with the token's name", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      const tokens = { alice: "alice-0123456789abcdef", bob: "bob-0123456789abcdef" }
      yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          expect(json(yield* get(url, "/control"))).toEqual({ enabled: true })
          const events = sse(yield* openEvents(url))
          for (const authorization of [undefined, "Bearer wrong-0123456789abcdef", `Basic ${tokens.alice}`, tokens.alice]) {
            const refused = yield* post(url, "/control/terminate?path=app/crashy", authorization)
            expect(refused.status).toBe(401)
            expect(refused.authenticate).toBe("Bearer realm=\"arbor\"")
          }
          expect((yield* post(url, "/control/shutdown", "Bearer nope")).status).toBe(401)
          expect(json(yield* get(url, "/tree")).root.children[1].state).toBe("running")

          const terminated = yield* post(url, "/control/terminate?path=app/crashy", `Bearer ${tokens.bob}`)
          expect([terminated.status, json(terminated)]).toEqual([200, { ok: true, action: "terminate", path: "app/crashy", by: "bob" }])
          expect(json(yield* get(url, "/tree")).root.children[1].state).toBe("stopped")
          const running_ = yield* post(url, "/control/restart?path=app/steady", `Bearer ${tokens.alice}`)
          expect([running_.status, json(running_).error]).toEqual([409, "app/steady: is running; terminate it first"])
          const missing = yield* post(url, "/control/terminate?path=app/nope", `Bearer ${tokens.alice}`)
          expect(missing.status).toBe(404)
          const restarted = yield* post(url, "/control/restart?path=app/crashy", `Bearer ${tokens.alice}`)
          expect(restarted.status).toBe(200)
          expect(json(yield* get(url, "/tree")).root.children[1]).toMatchObject({ state: "running", restarts: 1 })

          const shutdown = yield* post(url, "/control/shutdown", `Bearer ${tokens.alice}`)
          expect([shutdown.status, json(shutdown)]).toEqual([202, { ok: true, action: "shutdown", path: "app", by: "alice" }])
          yield* tree.release
          yield* Fiber.join(fiber)
          const seen = frames(yield* events.until(() => false))
          expect(seen.filter((e) => e._tag === "ControlRequested")).toEqual([
            expect.objectContaining({ path: "app/crashy", action: "terminate", by: "bob" }),
            expect.objectContaining({ path: "app/steady", action: "restart", by: "alice" }),
            expect.objectContaining({ path: "app/nope", action: "terminate", by: "alice" }),
            expect.objectContaining({ path: "app/crashy", action: "restart", by: "alice" }),
            expect.objectContaining({ path: "app", action: "shutdown", by: "alice" })
          ])
          const afterTerminate = seen.slice(seen.findIndex((e) => e._tag === "ControlRequested"))
          expect(afterTerminate.slice(1, 3).map((e) => `${e._tag} ${e.path}`)).toEqual(["ChildSettling app/crashy", "ChildExited app/crashy"])
          expect(seen.at(-1)?._tag).toBe("ShutdownCompleted")
        }), { control: { tokens } })
    }))

  it.live("the server is gone once the tree has stopped", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      const url = yield* observing(tree, (url) =>
        Effect.gen(function*() {
          const fiber = yield* start(tree)
          yield* running(url)
          yield* tree.stop(fiber)
          return url
        }))
      const error = yield* Effect.flip(Effect.tryPromise(() => fetch(`${url}/healthz`)))
      expect(String((error.cause as any)?.cause?.code ?? (error.cause as any)?.cause)).toMatch(/ECONNREFUSED/)
    }))

  it.live("closing the layer while the tree runs ends the /events streams instead of waiting for them", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      const fiber = yield* start(tree)
      const events = yield* observing(tree, (url) =>
        Effect.gen(function*() {
          yield* running(url)
          const events = sse(yield* Effect.promise(() => fetch(`${url}/events`)))
          yield* events.until((text) => text.includes("\n\n"))
          return events
        }))
      // The layer has closed although the tree still runs: the stream ended, cleanly, for the client.
      yield* events.until(() => false)
      expect(events.ended()).toBe(true)
      yield* tree.stop(fiber)
    }))

  it.live("a port in use fails the layer with ListenFailed, saying so and what to set, before the tree starts", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      const error = yield* observing(tree, (url) => {
        const port = Number(new URL(url).port)
        return Effect.flip(Effect.provide(Effect.void, NodeObserver.layer(tree.toplevel, { port })))
      })
      expect(error).toBeInstanceOf(NodeObserver.ListenFailed)
      const port = (error as NodeObserver.ListenFailed).port
      expect(error.message).toBe(`127.0.0.1:${port} is in use; set the observer's port option to a free port (0 picks one)`)
      expect((yield* tree.toplevel.snapshot).root.startedAt).toBeNull()
    }))

  it.live("bad options fail the layer with InvalidOptions naming the option", () =>
    Effect.gen(function*() {
      const tree = yield* scripted()
      const invalid = (options: unknown) =>
        Effect.flip(Layer.build(NodeObserver.layer(tree.toplevel, options as NodeObserver.Options)).pipe(Effect.scoped))
      for (
        const [options, option] of [
          [{ port: -1 }, "port"],
          [{ port: 65_536 }, "port"],
          [{ port: 1.5 }, "port"],
          [{ host: "" }, "host"],
          [{ ready: { database: true } }, "database"],
          [{ checkTimeout: "-1 seconds" }, "checkTimeout"],
          [{ heartbeat: 0 }, "heartbeat"],
          [{ control: { tokens: { alice: "short" } } }, "at least 16 characters"],
          [{ control: { tokens: {} } }, "at least one token"],
          [{ control: { tokens: { "": "0123456789abcdefgh" } } }, "tokens"],
          [{ prot: 9464 }, "prot"]
        ] as const
      ) {
        const error = yield* invalid(options)
        expect(error).toBeInstanceOf(Errors.InvalidOptions)
        expect(error).toMatchObject({ path: "app" })
        expect((error as Errors.InvalidOptions).issue).toContain(option)
      }
    }))
})
