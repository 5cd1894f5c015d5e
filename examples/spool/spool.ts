/**
 * The spool's tree and its settings.
 *
 *   spool                 toplevel, rest_for_one; makes the health gate "store"
 *   ├── store             permanent: SQLite with group commit; requeues what was not delivered
 *   ├── monitor           permanent: polls the store's trouble counters into the gate
 *   ├── sink              permanent: the loopback next hop (only without SPOOL_SINK_URL)
 *   ├── delivery          subsystem
 *   │   ├── connections   keep-alive connections to the sink
 *   │   ├── workers       pool of 4 slots: one delivery task per batch, retried with backoff
 *   │   └── dispatcher    reads the store in id order, waits for a slot, feeds the pool; paces a backlog
 *   └── ingest            permanent: POST /messages, 202 once durable; 503 while the gate is latched
 *
 * Settings come from the environment (see `settings`); a bad value fails
 * the start with a message naming the variable.
 */
import { Backpressure, ChildRuntime, HealthGate, Lifecycle, MainLoop, System } from "@arbor/core"
import { Config, Duration, Effect, Metric, Option } from "effect"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { delivery } from "./delivery.ts"
import { ingest } from "./ingest.ts"
import { monitor } from "./monitor.ts"
import { startSink } from "./sink.ts"
import { openSqlite } from "./sqlite.ts"
import { type Storage, type Store, storeChild, StoreFailed } from "./store.ts"

/** The settings, from the environment; the defaults suit a first try on a laptop. */
export const settings = Config.all({
  db: Config.String("SPOOL_DB").pipe(Config.withDefault(join(tmpdir(), "arbor-spool.db"))),
  host: Config.String("SPOOL_HOST").pipe(Config.withDefault("127.0.0.1")),
  port: Config.Int("SPOOL_PORT").pipe(Config.withDefault(8025)),
  sinkUrl: Config.option(Config.String("SPOOL_SINK_URL")),
  latchAfter: Config.Duration("SPOOL_LATCH_AFTER").pipe(Config.withDefault(Duration.seconds(15))),
  unlatchAfter: Config.Duration("SPOOL_UNLATCH_AFTER").pipe(Config.withDefault(Duration.seconds(30))),
  monitorInterval: Config.Duration("SPOOL_MONITOR_INTERVAL").pipe(Config.withDefault(Duration.seconds(1))),
  writeTimeout: Config.Duration("SPOOL_WRITE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(2))),
  stallAfter: Config.Duration("SPOOL_STALL_AFTER").pipe(Config.withDefault(Duration.millis(500))),
  maxPending: Config.Int("SPOOL_MAX_PENDING").pipe(Config.withDefault(4096)),
  maxBatch: Config.Int("SPOOL_MAX_BATCH").pipe(Config.withDefault(512)),
  maxMessageBytes: Config.Int("SPOOL_MAX_MESSAGE_BYTES").pipe(Config.withDefault(64 * 1024)),
  deliveryConcurrency: Config.Int("SPOOL_DELIVERY_CONCURRENCY").pipe(Config.withDefault(4)),
  deliveryBatch: Config.Int("SPOOL_DELIVERY_BATCH").pipe(Config.withDefault(500)),
  deliveryRate: Config.Int("SPOOL_DELIVERY_RATE").pipe(Config.withDefault(10_000)),
  baseline: Config.Boolean("SPOOL_BASELINE").pipe(Config.withDefault(false))
})

// SQLite's primary result codes that mean the disk or the file is bad: full, I/O error, corrupt, unopenable, read-only.
const fatalCodes = new Set([13, 10, 11, 26, 14, 8])

/** The store gate's classifier: SQLite's disk and file errors are fatal; a write too slow is unhealthy. */
export const classify = (error: unknown): HealthGate.Severity => {
  if (error instanceof StoreFailed) return fatalCodes.has(error.code & 0xff) ? "fatal" : "unhealthy"
  return error instanceof Backpressure.TimedOut ? "unhealthy" : "ignore"
}

const sink = Effect.gen(function*() {
  // The sink's callbacks log through a runtime of the child's own: with its logger, gone when it stops.
  const runtime = yield* ChildRuntime.make()
  const log = (count: number, first: number, last: number) =>
    runtime.runFork(Effect.logInfo(`sink: took ${count} message${count === 1 ? "" : "s"} (ids ${first}-${last})`))
  const sink = yield* Effect.acquireRelease(Effect.promise(() => startSink({ onBatch: log })), (sink) => Effect.promise(() => sink.close()))
  yield* Effect.log(`sink listening on ${sink.url}`)
  return yield* MainLoop.run(Lifecycle.settling, sink.url)
})

/** Series read when the metrics are: what the store counts, and the process's memory (for the load report). */
const storeMetrics = (store: Store) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const read = <State>(metric: Metric.Metric<number, State>, get: () => State) => {
      const registration = Metric.registerUnsafe(metric, context, { get, update: () => {}, modify: () => {} })
      return Effect.addFinalizer(() => Effect.sync(() => registration.remove()))
    }
    const gauge = (name: string, description: string, get: () => number) =>
      read(Metric.gauge(name, { description }), () => ({ value: get() }))
    const counter = (name: string, description: string, get: () => number) =>
      read(Metric.counter(name, { description, incremental: true }), () => ({ count: get(), incremental: true }))
    yield* gauge("spool_messages_spooled", "Messages stored and not yet delivered", () => store.stats.spooled)
    yield* counter("spool_commits_total", "Store commits (one fsync each, for a whole batch)", () => store.stats.commits)
    yield* counter("spool_commits_failed_total", "Store commits that failed", () => store.stats.failedCommits)
    yield* gauge("process_resident_memory_bytes", "Resident set size", () => process.memoryUsage.rss())
    yield* gauge("nodejs_heap_used_bytes", "V8 heap in use", () => process.memoryUsage().heapUsed)
  })

export class Spool extends System.System {
  /** How the store opens its storage: SQLite, unless a test wraps it. */
  readonly open: (path: string) => Promise<Storage>

  constructor(open: (path: string) => Promise<Storage> = openSqlite) {
    super()
    this.open = open
  }

  start(scope: System.Scope) {
    const open = this.open
    return Effect.gen(function*() {
      const config = yield* settings
      const gate = yield* HealthGate.make("store", { latchAfter: config.latchAfter, unlatchAfter: config.unlatchAfter, classify })
      const store = yield* scope.child("store", Effect.tap(
        storeChild(config.db, open, {
          maxPending: config.maxPending,
          maxBatch: config.maxBatch,
          stallMillis: Duration.toMillis(config.stallAfter),
          removeDelay: 50
        }),
        (loop) => storeMetrics(loop.value)
      ))
      yield* scope.child("monitor", monitor(store, gate, config.monitorInterval))
      const sinkUrl = Option.isSome(config.sinkUrl) ? config.sinkUrl.value : yield* scope.child("sink", sink)
      yield* scope.system("delivery", delivery(store, {
        sinkUrl,
        concurrency: config.deliveryConcurrency,
        batch: config.deliveryBatch,
        rate: config.deliveryRate
      }))
      const shutdownBudget = Duration.seconds(5)
      yield* scope.child("ingest", ingest(store, gate, {
        host: config.host,
        port: config.port,
        maxMessageBytes: config.maxMessageBytes,
        writeTimeout: Duration.toMillis(config.writeTimeout),
        unlatchAfter: Duration.toMillis(config.unlatchAfter),
        baseline: config.baseline,
        shutdownBudget
      }), { shutdown: shutdownBudget })
    })
  }
}
