/**
 * Watching a running tree over HTTP.
 *
 * `NodeObserver.layer(toplevel)` serves the toplevel's metrics, health,
 * snapshot and lifecycle events on a small HTTP server, loopback only unless
 * told otherwise. Pass it as `runMain`'s `layer`: it listens before the tree
 * starts and closes once the tree has stopped.
 *
 * | endpoint       | answers                                                                        |
 * |----------------|--------------------------------------------------------------------------------|
 * | `GET /metrics` | every metric of the `Metric.MetricRegistry`, in Prometheus text format         |
 * | `GET /healthz` | liveness: 200 `{ "status": "ok" }` while the process serves (503 if a `health` check fails) |
 * | `GET /readyz`  | readiness: 200 only while the tree runs, no health gate is latched and every `ready` check passes (a cluster singleton's standby runner: while its store answers); else 503 with the reasons |
 * | `GET /tree`    | the tree's snapshot as JSON (`TreeSnapshot`)                                   |
 * | `GET /events`  | the lifecycle events as Server-Sent Events, until the client leaves or the tree stops; each with its `id:`, resumed after `Last-Event-ID` (or `?after=<id>`) |
 * | `GET /`        | the web observer: a live view of the tree, its events and the process (plain text: this list, for `curl`) |
 * | `GET /node?path=<path>` | one node in depth (`Toplevel.inspect`), with its system's startup-time histogram; `&offset=&limit=` page a pool's children |
 * | `GET /process` | heap, event-loop delay and CPU, once a second, as Server-Sent Events |
 * | `GET /control` | whether control actions are on |
 * | `POST /control/terminate?path=`, `/control/restart?path=`, `/control/shutdown` | control actions, with `Authorization: Bearer <token>` (see `control`) |
 *
 * @since 0.1.0
 */
import type { Toplevel, TreeSnapshot } from "@arbor/core"
import { Errors, Metrics, Options as ArborOptions } from "@arbor/core"
import { NodeHttpServer } from "@effect/platform-node"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { createServer } from "node:http"
import { bearer, control } from "./internal/observerControl.ts"
import { loadPage } from "./internal/observerPage.ts"
import { processSamples } from "./internal/processSamples.ts"
import * as Watchdog from "./Watchdog.ts"

/**
 * Options of {@link layer}.
 *
 * - `port`: default 9464 (Prometheus exporters' usual port); `0` picks a free one (read it from {@link NodeObserver}).
 * - `host`: default `"127.0.0.1"`: the endpoints describe the process's insides, so they are not exposed
 *   beyond the machine unless you say so (`"0.0.0.0"` in a container, behind the orchestrator's network).
 * - `ready`: named readiness checks. `/readyz` runs them (concurrently) once the tree runs; one that
 *   answers `false`, fails or takes longer than `checkTimeout` makes the process not ready.
 * - `health`: named liveness details. `/healthz` runs them and shows each (JSON-serialisable) value under its name; one that
 *   fails or takes longer than `checkTimeout` makes the process unhealthy (503), so an orchestrator
 *   restarts it. Meant for facts such as an event-loop watchdog's last stall.
 * - `checkTimeout`: how long each check may take, default 1 second.
 * - `heartbeat`: how often `/events` sends a comment line while no event happens, so proxies and clients
 *   keep the connection open; default 15 seconds.
 * - `control`: `{ tokens: { <name>: <token> } }` turns on the control actions (terminate, restart, shutdown):
 *   a request must present one of the tokens (`Authorization: Bearer <token>`, at least 16 characters); its
 *   name is who asked, in the `ControlRequested` event and the log. Off without it: every action answers 403.
 *
 * @example
 * ```ts
 * import type { NodeObserver } from "@arbor/node"
 * import { Effect } from "effect"
 *
 * declare const pingDatabase: Effect.Effect<boolean>
 *
 * const options: NodeObserver.Options = {
 *   port: 9464,
 *   ready: { database: pingDatabase },
 *   health: { version: Effect.succeed("1.4.2") }
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly port?: number
  readonly host?: string
  readonly ready?: Readonly<Record<string, Effect.Effect<boolean, unknown>>>
  readonly health?: Readonly<Record<string, Effect.Effect<unknown, unknown>>>
  readonly checkTimeout?: Duration.Input
  readonly heartbeat?: Duration.Input
  readonly control?: { readonly tokens: Readonly<Record<string, string>> }
}

/**
 * Where the observer listens, once it does: `url` (`http://127.0.0.1:9464`),
 * `host` and `port` (the port it was given, or the one picked for `0`).
 *
 * @example
 * ```ts
 * import { NodeObserver } from "@arbor/node"
 * import { Effect } from "effect"
 *
 * const treeUrl = Effect.gen(function*() {
 *   const observer = yield* NodeObserver.NodeObserver
 *   return `${observer.url}/tree`
 * })
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class NodeObserver extends Context.Service<NodeObserver, {
  readonly url: string
  readonly host: string
  readonly port: number
}>()("@arbor/node/NodeObserver") {}

/**
 * The default port: the one Prometheus exporters usually take.
 *
 * @example
 * ```ts
 * import { NodeObserver } from "@arbor/node"
 *
 * const port = Number(process.env["METRICS_PORT"] ?? NodeObserver.defaultPort)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const defaultPort = 9464

const isEffect = (u: unknown): u is Effect.Effect<unknown, unknown> => Effect.isEffect(u)
const Checks = Schema.Record(Schema.String, Schema.declare(isEffect, { expected: "an Effect" }))

const OptionsSchema = Schema.Struct({
  port: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))),
  host: Schema.optionalKey(Schema.NonEmptyString),
  ready: Schema.optionalKey(Checks),
  health: Schema.optionalKey(Checks),
  checkTimeout: Schema.optionalKey(ArborOptions.PositiveDuration),
  heartbeat: Schema.optionalKey(ArborOptions.PositiveDuration),
  control: Schema.optionalKey(Schema.Struct({
    tokens: Schema.Record(
      Schema.NonEmptyString,
      Schema.String.check(Schema.isMinLength(16, { message: "a control token needs at least 16 characters" }))
    ).check(Schema.makeFilter((tokens) => Object.keys(tokens).length > 0 || "at least one token, or no control option"))
  }))
})

/**
 * Serves `toplevel`'s endpoints and the web observer's page while the layer
 * is in use. It fails with `InvalidOptions` for bad options, and with
 * {@link ListenFailed} when it cannot listen (the port is taken, say), before
 * the tree starts. Closing it stops listening: the `/events` streams of a tree
 * that has stopped end by themselves once they have sent its last events,
 * those of a tree still running are ended (a request still in flight after 2
 * seconds is cut off).
 *
 * @example
 * ```ts
 * import { MainLoop, System, Toplevel } from "@arbor/core"
 * import { NodeObserver, NodeToplevel } from "@arbor/node"
 * import { Effect } from "effect"
 *
 * class App extends System.System {
 *   start(scope: System.Scope) {
 *     return scope.child("worker", MainLoop.spawn(Effect.never)).pipe(Effect.asVoid)
 *   }
 * }
 *
 * const toplevel = Toplevel.make("app", new App())
 * // curl -s localhost:9464/tree
 * NodeToplevel.runMain(toplevel, { layer: NodeObserver.layer(toplevel, { port: 9464 }) })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R>(
  toplevel: Toplevel.Toplevel<R>,
  options?: Options
): Layer.Layer<NodeObserver, Errors.InvalidOptions | ListenFailed> =>
  Layer.unwrap(Effect.gen(function*() {
    const config = yield* ArborOptions.decode(OptionsSchema, toplevel.name, options)
    // A client that reconnects to /events gets the events it missed, within `eventBuffer`.
    yield* toplevel.holdEvents
    const closing = yield* Deferred.make<void>()
    const page = yield* Effect.cached(loadPage)
    const identify = config.control === undefined ? undefined : bearer(config.control.tokens)
    // With a watchdog in context, /healthz tells the last event-loop stall.
    const watchdog = yield* Effect.serviceOption(Watchdog.Watchdog)
    const eventLoop = Option.match(watchdog, {
      onNone: () => [],
      onSome: (watchdog) => [["eventLoop", Effect.map(watchdog.lastStall, lastStallJson)] as const]
    })
    const settings: Settings = {
      closing: Deferred.await(closing),
      ready: Object.entries(config.ready ?? {}) as Settings["ready"],
      health: [...eventLoop, ...Object.entries(config.health ?? {})],
      checkTimeout: config.checkTimeout ?? "1 second",
      heartbeat: config.heartbeat ?? "15 seconds"
    }
    const routes = Layer.mergeAll(
      PrometheusMetrics.layerHttp({ path: "/metrics" }),
      HttpRouter.add("GET", "/healthz", healthz(toplevel, settings)),
      HttpRouter.add("GET", "/readyz", readyz(toplevel, settings)),
      HttpRouter.add("GET", "/tree", Effect.map(toplevel.snapshot, treeResponse)),
      HttpRouter.add("GET", "/events", (request) =>
        Effect.map(HttpServerRequest.ParsedSearchParams, (params) =>
          eventsResponse(toplevel, settings, lastEventId(request.headers["last-event-id"] ?? single(params["after"]))))),
      HttpRouter.add("GET", "/node", nodeResponse(toplevel)),
      HttpRouter.add("GET", "/process", Effect.sync(() => sse(processFrames, settings.closing))),
      HttpRouter.add("GET", "/control", Effect.succeed(json(200, { enabled: identify !== undefined }))),
      ...(["terminate", "restart", "shutdown"] as const).map((action) =>
        HttpRouter.add("POST", `/control/${action}`, control(toplevel, action, identify))
      ),
      HttpRouter.add("GET", "/", (request) =>
        (request.headers["accept"] ?? "").includes("text/html") ? page : Effect.succeed(HttpServerResponse.text(index)))
    )
    // Requests are not logged: scrapes and probes every few seconds would drown the tree's own logs.
    const serving = HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true })
    const host = config.host ?? "127.0.0.1"
    const port = config.port ?? defaultPort
    const server = Layer.effect(
      HttpServer.HttpServer,
      NodeHttpServer.make(createServer, {
        port,
        host,
        // `/events` streams are ended before; what is left is a request in flight, or a client that stopped reading.
        gracefulShutdownTimeout: "2 seconds"
      }).pipe(Effect.mapError((error) => listenFailed(host, port, error.cause)))
    )
    const address = Layer.effect(NodeObserver)(Effect.gen(function*() {
      const { address } = yield* HttpServer.HttpServer
      const url = HttpServer.formatAddress(address)
      // This layer closes before the server's: `/events` streams end cleanly, so no client holds the close up.
      yield* Effect.addFinalizer(() => Deferred.succeed(closing, undefined))
      yield* Effect.log(`observer listening on ${url}`)
      return { url, host, port: address._tag === "UnixPathAddress" ? 0 : address.port }
    }))
    // The routes are in place before the address is announced: a client told the URL finds them all.
    return address.pipe(Layer.provide(serving), Layer.provide(server))
  }))

/**
 * The observer could not listen on `host:port`: the port is taken (by another
 * process, or by another observer on the default port), the address is not
 * one of this machine's, or the port needs privileges. The message says which,
 * and what to set.
 *
 * @example
 * ```ts
 * import { NodeObserver } from "@arbor/node"
 *
 * new NodeObserver.ListenFailed({ host: "127.0.0.1", port: 9464, code: "EADDRINUSE", reason: "address already in use" }).message
 * // "127.0.0.1:9464 is in use; set the observer's port option to a free port (0 picks one)"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ListenFailed extends Schema.TaggedError<ListenFailed>()("ListenFailed", {
  host: Schema.String,
  port: Schema.Number,
  /** The system's error code: `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`, ... */
  code: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    const where = `${this.host}:${this.port}`
    switch (this.code) {
      case "EADDRINUSE":
        return `${where} is in use; set the observer's port option to a free port (0 picks one)`
      case "EACCES":
        return `${where} needs privileges to listen on; set the observer's port option to a port above 1023`
      case "EADDRNOTAVAIL":
        return `${where}: ${this.host} is not an address of this machine; set the observer's host option`
      default:
        return `cannot listen on ${where}: ${this.reason}`
    }
  }
}

const listenFailed = (host: string, port: number, cause: unknown): ListenFailed => {
  const code = Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : "unknown"
  const reason = cause instanceof Error ? cause.message : String(cause)
  return new ListenFailed({ host, port, code, reason })
}

const lastStallJson = (stall: Option.Option<Watchdog.StallDetected>) => ({
  lastStall: Option.match(stall, {
    onNone: () => null,
    onSome: (stall) => ({
      at: stall.at.toISOString(),
      stalledForMillis: stall.stalledFor,
      where: stall.stack[0] === undefined ? stall.stackUnavailable ?? "no JavaScript stack" : String(stall.stack[0])
    })
  })
})

interface Settings {
  /** Completes when the layer closes. */
  readonly closing: Effect.Effect<void>
  readonly ready: ReadonlyArray<readonly [string, Effect.Effect<boolean, unknown>]>
  readonly health: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]>
  readonly checkTimeout: Duration.Input
  readonly heartbeat: Duration.Input
}

const index = [
  "GET /metrics   Prometheus metrics",
  "GET /healthz   liveness",
  "GET /readyz    readiness: 200 while the tree runs and no health gate is latched",
  "GET /tree      the tree's snapshot (JSON)",
  "GET /events    lifecycle events (Server-Sent Events)",
  "GET /node?path=<path>   one node in depth (JSON)",
  "GET /process   heap, event-loop delay, CPU, once a second (Server-Sent Events)",
  "GET /control   whether control actions are on; POST /control/{terminate,restart}?path=<path>, /control/shutdown",
  "GET / in a browser: the web observer",
  ""
].join("\n")

/** What a check answered: its value, or why it counts as failed. */
type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string }

const runCheck = (check: Effect.Effect<unknown, unknown>, timeout: Duration.Input): Effect.Effect<Outcome> =>
  check.pipe(
    Effect.timeoutOption(timeout),
    Effect.exit,
    Effect.map((exit): Outcome => {
      if (Exit.isFailure(exit)) return { ok: false, error: oneLine(exit.cause) }
      return Option.isSome(exit.value)
        ? { ok: true, value: exit.value.value }
        : { ok: false, error: `no answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}` }
    })
  )

const runChecks = <A>(
  checks: ReadonlyArray<readonly [string, Effect.Effect<A, unknown>]>,
  timeout: Duration.Input
): Effect.Effect<ReadonlyArray<readonly [string, Outcome]>> =>
  Effect.forEach(checks, ([name, check]) => Effect.map(runCheck(check, timeout), (outcome) => [name, outcome] as const), {
    concurrency: "unbounded"
  })

const oneLine = (cause: Cause.Cause<unknown>): string => {
  if (Cause.hasInterruptsOnly(cause)) return "interrupted"
  const error = Cause.squash(cause)
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.split("\n", 1)[0]!
}

const json = (status: number, body: unknown) =>
  HttpServerResponse.jsonUnsafe(body, { status, headers: { "cache-control": "no-store" } })

const healthz = <R>(toplevel: Toplevel.Toplevel<R>, settings: Settings) =>
  Effect.gen(function*() {
    const { root } = yield* toplevel.snapshot
    const outcomes = yield* runChecks(settings.health, settings.checkTimeout)
    const healthy = outcomes.every(([, outcome]) => outcome.ok)
    const checks = Object.fromEntries(outcomes.map(([name, outcome]) => [name, outcome.ok ? outcome.value : { error: outcome.error }]))
    return json(healthy ? 200 : 503, {
      status: healthy ? "ok" : "unhealthy",
      tree: root.state,
      ...(outcomes.length > 0 ? { checks } : {})
    })
  })

/** Indented: read by people with `curl | head` more often than by programs, which do not mind. */
const treeResponse = (snapshot: TreeSnapshot.TreeSnapshot) =>
  HttpServerResponse.text(JSON.stringify(snapshot, null, 2), {
    contentType: "application/json",
    headers: { "cache-control": "no-store" }
  })

/** Why a tree in `state` is not ready. */
const notRunning = (root: TreeSnapshot.Node): string => {
  switch (root.state) {
    case "starting":
      return "the tree is starting"
    case "restarting":
      return "the tree is restarting its children"
    case "settling":
      return "the tree is shutting down"
    default:
      return root.startedAt === null ? "the tree has not started" : "the tree has stopped"
  }
}

/**
 * A runner of a cluster singleton that does not own the tree is ready while it
 * stands by to take it over: joined, its store answering. The owner is ready
 * as any tree is.
 */
const clusterReadiness = (root: TreeSnapshot.Node, cluster: TreeSnapshot.ClusterStatus) => {
  const status = { tree: root.state, role: cluster.role, owner: cluster.owner }
  if (!cluster.store.available) {
    return json(503, { status: "not ready", ...status, reason: `the cluster's store is unavailable: ${cluster.store.message}` })
  }
  if (cluster.role === "standby") return json(200, { status: "ready", ...status })
  return json(503, { status: "not ready", ...status, reason: `${cluster.role} the cluster` })
}

const readyz = <R>(toplevel: Toplevel.Toplevel<R>, settings: Settings) =>
  Effect.gen(function*() {
    const { root, gates = [], cluster } = yield* toplevel.snapshot
    if (cluster !== undefined && (cluster.role !== "owner" || !cluster.store.available)) return clusterReadiness(root, cluster)
    // The checks may depend on the tree's services: they are asked only once the tree runs.
    if (root.state !== "running") return json(503, { status: "not ready", tree: root.state, reason: notRunning(root) })
    const outcomes = yield* runChecks(settings.ready, settings.checkTimeout)
    const failing = [
      ...gates.flatMap((gate) => gate.state === "latched" ? [`health gate ${gate.name} latched: ${gate.reason}`] : []),
      ...outcomes.flatMap(([name, outcome]) =>
        outcome.ok && outcome.value === true ? [] : [`${name}: ${outcome.ok ? "not ready" : outcome.error}`]
      )
    ]
    const checks = Object.fromEntries(outcomes.map(([name, outcome]) =>
      [name, outcome.ok ? (outcome.value === true ? "ok" : "not ready") : outcome.error]
    ))
    const extra = {
      ...(gates.length > 0 ? { gates: Object.fromEntries(gates.map(({ name, ...gate }) => [name, gate])) } : {}),
      ...(outcomes.length > 0 ? { checks } : {})
    }
    return failing.length === 0
      ? json(200, { status: "ready", tree: root.state, ...extra })
      : json(503, { status: "not ready", tree: root.state, reason: failing.join("; "), ...extra })
  })

/** The `Last-Event-ID` a reconnecting client sends (or its `?after=`): the number of the last event it had, if it is one. */
const lastEventId = (header: string | undefined): number | undefined =>
  header !== undefined && /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : undefined

/** A query parameter given once. */
const single = (param: string | ReadonlyArray<string> | undefined): string | undefined =>
  typeof param === "string" ? param : undefined

/** A stream of Server-Sent Events frames as a response, ended when the layer closes. */
const sse = (frames: Stream.Stream<string>, closing: Effect.Effect<void>) =>
  HttpServerResponse.stream(Stream.encodeText(Stream.interruptWhen(frames, closing)), {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
  })

const processFrames = Stream.map(processSamples(1000), (sample) => `event: Process\ndata: ${JSON.stringify(sample)}\n\n`)

/**
 * `/node?path=`: the node in depth, and the startup-time histogram of the
 * children of its system (or of itself, for a system or pool): the metric
 * keeps one per system, not per child.
 */
const nodeResponse = <R>(toplevel: Toplevel.Toplevel<R>) =>
  Effect.gen(function*() {
    const params = yield* HttpServerRequest.ParsedSearchParams
    const path = single(params["path"])
    if (path === undefined) return json(400, { error: "which node? ?path=<its path>" })
    const number = (name: string) => {
      const value = single(params[name])
      return value === undefined ? undefined : Number(value)
    }
    const offset = number("offset")
    const limit = number("limit")
    const detail = yield* toplevel.inspect(path, { ...(offset === undefined ? {} : { offset }), ...(limit === undefined ? {} : { limit }) })
    const system = detail.node.kind === "worker" ? detail.supervisor?.path : path
    const startup = system === undefined
      ? undefined
      : { path: system, ...(yield* Metric.value(Metric.withAttributes(Metrics.childStartup, { path: system }))) }
    return json(200, { ...detail, ...(startup === undefined ? {} : { startup }) })
  }).pipe(Effect.catch((error) => Effect.succeed(json(error._tag === "NotFound" ? 404 : 400, { error: error.message }))))

/**
 * One subscription per client. It is taken before the first line is sent, so
 * a client that has read the opening comment misses no event after it. A
 * client resuming after event `after` first gets the held events it missed;
 * a `Gap` frame (no `id:`: the client's last id stays the one it had) says
 * what it cannot get back.
 */
const eventsResponse = <R>(toplevel: Toplevel.Toplevel<R>, settings: Settings, after: number | undefined) => {
  const frames = Stream.unwrap(Effect.gen(function*() {
    const pull = yield* Stream.toPull(toplevel.eventsAfter(after))
    const events = Stream.fromPull(Effect.succeed(pull)).pipe(
      // JSON.stringify never writes a raw newline, so each event is one `data:` line.
      Stream.map((item) =>
        item._tag === "Gap"
          ? `event: Gap\ndata: ${JSON.stringify(item)}\n\n`
          : `id: ${item.id}\nevent: ${item.event._tag}\ndata: ${JSON.stringify(item.event)}\n\n`
      )
    )
    const heartbeats = Stream.tick(settings.heartbeat).pipe(Stream.drop(1), Stream.map(() => ": heartbeat\n\n"))
    return Stream.concat(Stream.make(`: ${toplevel.name} lifecycle events\n\n`), Stream.merge(events, heartbeats, { haltStrategy: "left" }))
  }))
  // A tree that has run and stopped has ended its event streams already: they drain what they hold (its last
  // events, `ShutdownCompleted` among them) and end by themselves. Only the stream of a tree still running is cut.
  const cut = Effect.andThen(settings.closing, Effect.flatMap(toplevel.snapshot, ({ root }) =>
    root.state === "stopped" && root.startedAt !== null ? Effect.never : Effect.void))
  return sse(frames, cut)
}
