/**
 * This process as a runner of a cluster: a member of `effect/cluster`'s
 * sharding, with an address the other runners reach it at, and the store the
 * runners share (an embedded SQLite file, or PostgreSQL).
 *
 * The runners hold *leases* on shards in the store and renew them; a cluster
 * singleton (`ClusterToplevel.singleton`) runs on whichever runner holds the
 * lease of its shard. A runner that stops renewing (it died, froze, or lost
 * the store) loses its leases once they expire, and another runner takes
 * them.
 *
 * `layer(options)` joins the cluster in the background: a store that cannot
 * be reached is a {@link StoreUnavailable} error, shown by the singletons'
 * snapshots (and so by `/readyz`) and retried with backoff; the layer itself
 * fails only for bad options (`InvalidOptions`).
 *
 * | option                | default                | what it sets                                                |
 * |-----------------------|------------------------|-------------------------------------------------------------|
 * | `lease`               | 10 seconds             | how long a lease lasts unless renewed (renewed every third) |
 * | `healthCheckInterval` | 2 seconds              | how often the runners ping each other                       |
 * | `assignmentsInterval` | 1 second               | how often a runner reads the runners and reassigns shards   |
 *
 * @since 0.1.0
 */
import { Errors, Options as ArborOptions } from "@arbor/core"
import { NodeClusterSocket } from "@effect/platform-node"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import {
  MessageStorage,
  RunnerAddress,
  RunnerHealth,
  Runners,
  RunnerStorage,
  Sharding,
  ShardingConfig,
  SocketRunner,
  SqlRunnerStorage,
  TestRunner
} from "effect/cluster"
import { RpcSerialization } from "effect/rpc"
import { SqlClient } from "effect/sql"
import { oneLine } from "./internal/cause.ts"
import * as Fencing from "./internal/fencing.ts"
import * as Storage from "./Storage.ts"

/**
 * Options of {@link layer}.
 *
 * - `port` (required) and `host` (default `"127.0.0.1"`): the address the
 *   other runners reach this one at, and listen on. Each runner of a cluster
 *   needs its own; on several machines, use an address they can reach.
 * - `storage`: default `{ kind: "sqlite", filename: "arbor-cluster.db" }`.
 * - `lease`, `healthCheckInterval`, `assignmentsInterval`: see the module's
 *   table; every runner of a cluster must use the same `lease`.
 * - `joinRetry`: the delays between attempts to join while the store cannot
 *   be reached; default exponential from 500 ms, at most 10 seconds apart.
 *
 * @example
 * ```ts
 * import type { ClusterRunner } from "@arbor/cluster"
 *
 * const options: ClusterRunner.Options = {
 *   port: 7001,
 *   storage: { kind: "postgres", host: "10.0.0.5", database: "app", username: "app", password: "secret" },
 *   lease: "5 seconds"
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly port: number
  readonly host?: string
  readonly storage?: Storage.Storage
  readonly lease?: Duration.Input
  readonly healthCheckInterval?: Duration.Input
  readonly assignmentsInterval?: Duration.Input
  readonly joinRetry?: Schedule.Schedule<unknown, unknown>
}

const OptionsSchema = Schema.Struct({
  port: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 })),
  host: Schema.optionalKey(Schema.NonEmptyString),
  storage: Schema.optionalKey(Storage.Storage),
  lease: Schema.optionalKey(ArborOptions.PositiveDuration),
  healthCheckInterval: Schema.optionalKey(ArborOptions.PositiveDuration),
  assignmentsInterval: Schema.optionalKey(ArborOptions.PositiveDuration),
  joinRetry: Schema.optionalKey(Schema.declare(
    (u: unknown): u is Schedule.Schedule<unknown, unknown> => Schedule.isSchedule(u),
    { expected: "a Schedule" }
  ))
})

/**
 * The cluster's store could not be reached: `storage` says which (without
 * its password), `reason` why. The runner tries again after `retryMillis`.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@arbor/cluster"
 *
 * new ClusterRunner.StoreUnavailable({ storage: "postgres 127.0.0.1:5432/app", reason: "connect ECONNREFUSED", retryMillis: 2000 }).message
 * // "the cluster's store (postgres 127.0.0.1:5432/app) is unavailable: connect ECONNREFUSED; trying again in 2000 ms"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()("StoreUnavailable", {
  storage: Schema.String,
  reason: Schema.String,
  retryMillis: Schema.NullOr(Schema.Number)
}) {
  override get message(): string {
    const retry = this.retryMillis === null ? "" : `; trying again in ${this.retryMillis} ms`
    return `the cluster's store (${this.storage}) is unavailable: ${this.reason}${retry}`
  }
}

/**
 * Whether this runner has joined: `joining` (with the last error, if an
 * attempt failed) until the store answered and the runner registered, then
 * `joined`.
 *
 * @example
 * ```ts
 * import type { ClusterRunner } from "@arbor/cluster"
 *
 * const line = (status: ClusterRunner.Status) =>
 *   status._tag === "Joined" ? "in the cluster" : status.error?.message ?? "joining"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Status =
  | { readonly _tag: "Joining"; readonly error: StoreUnavailable | undefined; readonly since: number }
  | { readonly _tag: "Joined"; readonly since: number }

/**
 * What a joined runner offers the singletons it runs.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@arbor/cluster"
 * import { Effect } from "effect"
 *
 * const leaving = Effect.gen(function*() {
 *   const runner = yield* ClusterRunner.ClusterRunner
 *   const { sharding } = yield* runner.joined
 *   return yield* sharding.isShutdown
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Joined {
  readonly sharding: Sharding.Sharding["Service"]
  /** @internal */
  readonly fencing: Fencing.Fencing
}

/**
 * The runner: its `address` (`host:port`), the `lease` and how often leases
 * are renewed (`renewEvery`), its join `status`, `joined`, which resumes
 * once it has joined, and `renewal`: why its last lease renewal failed, if
 * it did (the store went away, or takes no writes: a full disk).
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@arbor/cluster"
 * import { Effect } from "effect"
 *
 * const whereAmI = Effect.gen(function*() {
 *   const runner = yield* ClusterRunner.ClusterRunner
 *   return runner.address
 * })
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class ClusterRunner extends Context.Service<ClusterRunner, {
  readonly address: string
  readonly lease: Duration.Duration
  readonly renewEvery: Duration.Duration
  readonly status: Effect.Effect<Status>
  readonly joined: Effect.Effect<Joined>
  /** Why the runner's last attempt to renew its leases in the store failed; none when it succeeded. */
  readonly renewal: Effect.Effect<Option.Option<string>>
}>()("@arbor/cluster/ClusterRunner") {}

/**
 * Joins the cluster as a runner at `host:port`, with `storage`, while the
 * layer is in use. Building it fails only for bad options; joining goes on in
 * the background (see {@link Status}). Closing it leaves the cluster: the
 * runner deregisters and releases its leases, so that the other runners take
 * its singletons at once rather than when the leases expire.
 *
 * @example
 * ```ts
 * import { ClusterRunner, ClusterToplevel } from "@arbor/cluster"
 * import { MainLoop, System } from "@arbor/core"
 * import { NodeObserver, NodeToplevel } from "@arbor/node"
 * import { Effect, Layer } from "effect"
 *
 * class Scheduler extends System.System {
 *   start(scope: System.Scope) {
 *     return scope.child("tick", MainLoop.spawn(Effect.never)).pipe(Effect.asVoid)
 *   }
 * }
 *
 * const scheduler = ClusterToplevel.singleton("scheduler", new Scheduler())
 * const runner = ClusterRunner.layer({ port: 7001, storage: { kind: "sqlite", filename: "cluster.db" } })
 * NodeToplevel.runMain(scheduler, { layer: Layer.merge(runner, NodeObserver.layer(scheduler, { port: 9501 })) })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<ClusterRunner, Errors.InvalidOptions> =>
  Layer.effect(ClusterRunner)(Effect.gen(function*() {
    const kind: unknown = (options?.storage as { readonly kind?: unknown } | undefined)?.kind
    if (options?.storage !== undefined && kind !== "sqlite" && kind !== "postgres") {
      return yield* new Errors.InvalidOptions({
        path: "cluster runner",
        issue: `unknown storage kind ${JSON.stringify(kind)}: "sqlite" or "postgres"\n  at ["storage"]["kind"]`
      })
    }
    const config = yield* ArborOptions.decode(OptionsSchema, "cluster runner", options)
    const host = config.host ?? "127.0.0.1"
    const storage = config.storage ?? Storage.defaultStorage
    const lease = Duration.fromInputUnsafe(config.lease ?? defaults.lease)
    const shardingConfig: Partial<ShardingConfig.ShardingConfig["Service"]> = {
      runnerAddress: Option.some(RunnerAddress.make(host, config.port)),
      runnerListenAddress: Option.none(),
      shardLockExpiration: lease,
      shardLockRefreshInterval: renewInterval(lease),
      // Leases are rows of the lock table, so that a fencing token is granted in one statement with the lease check.
      shardLockDisableAdvisory: true,
      runnerHealthCheckInterval: config.healthCheckInterval ?? defaults.healthCheckInterval,
      refreshAssignmentsInterval: config.assignmentsInterval ?? defaults.assignmentsInterval,
      // Singletons only: no entity messages to poll for, and this also paces the lease acquisition loop's retries.
      entityMessagePollInterval: "1 second"
    }
    const renewal = new Renewal()
    return yield* make({
      address: `${host}:${config.port}`,
      lease,
      renewal,
      join: joinLayer(storage, shardingConfig, lease, renewal),
      describe: Storage.describe(storage),
      retry: config.joinRetry ?? defaults.joinRetry
    })
  }))

/**
 * A runner alone in an in-memory cluster (effect/cluster's `TestRunner`),
 * for tests of a singleton's tree: it owns every shard at once, and the
 * fencing tokens live in memory.
 *
 * @example
 * ```ts
 * import { ClusterRunner, ClusterToplevel } from "@arbor/cluster"
 * import { MainLoop, System } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * class Scheduler extends System.System {
 *   start(scope: System.Scope) {
 *     return scope.child("tick", MainLoop.spawn(Effect.never)).pipe(Effect.asVoid)
 *   }
 * }
 *
 * const scheduler = ClusterToplevel.singleton("scheduler", new Scheduler())
 * const test = Effect.gen(function*() {
 *   yield* Effect.forkChild(scheduler.start())
 *   // ... read scheduler.snapshot, then scheduler.shutdownToken.signal()
 * }).pipe(Effect.provide(ClusterRunner.layerTest))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTest: Layer.Layer<ClusterRunner> = Layer.effect(ClusterRunner)(Effect.suspend(() =>
  make({
    address: "localhost:34431",
    lease: Duration.fromInputUnsafe(defaults.lease),
    renewal: new Renewal(),
    join: Layer.effect(JoinedTag)(Effect.gen(function*() {
      return { sharding: yield* Sharding.Sharding, fencing: Fencing.memory() }
    })).pipe(Layer.provide(TestRunner.layer)),
    describe: "memory",
    retry: defaults.joinRetry
  })
)).pipe(Layer.orDie)

/**
 * The settings a runner uses unless told otherwise. With them, a singleton
 * whose runner is killed runs again elsewhere within about 11 seconds (the
 * lease, then the next look at the leases); one whose runner stops
 * gracefully, within about 1 second.
 *
 * @example
 * ```ts
 * import { ClusterRunner } from "@arbor/cluster"
 *
 * ClusterRunner.defaults.lease // "10 seconds"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const defaults = {
  lease: "10 seconds",
  healthCheckInterval: "2 seconds",
  assignmentsInterval: "1 second",
  joinRetry: Schedule.min([Schedule.exponential("500 millis"), Schedule.spaced("10 seconds")])
} as const

/** effect/cluster renews leases every third of their length (or more often): two renewals may fail before one expires. */
const renewInterval = (lease: Duration.Duration): Duration.Duration => Duration.divideUnsafe(lease, 3)

/** The outcome of the runner's last lease renewal, as effect/cluster's calls to the store end. */
class Renewal {
  failure: Option.Option<string> = Option.none()

  watch<A, E, R>(renew: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.onExit(renew, (exit) =>
      Effect.sync(() => {
        this.failure = Exit.isSuccess(exit) ? Option.none() : Option.some(Cause.hasInterruptsOnly(exit.cause)
          ? "no answer before the renewal's deadline"
          : oneLine(exit.cause))
      }))
  }
}

class JoinedTag extends Context.Service<JoinedTag, Joined>()("@arbor/cluster/ClusterRunner/Joined") {}

/** Everything a runner needs to join: built anew on each attempt, kept once it succeeds. */
const joinLayer = (
  storage: Storage.Storage,
  shardingConfig: Partial<ShardingConfig.ShardingConfig["Service"]>,
  lease: Duration.Duration,
  renewal: Renewal
): Layer.Layer<JoinedTag, unknown> => {
  const config = ShardingConfig.layer(shardingConfig)
  const clientProtocol = NodeClusterSocket.layerClientProtocol
  const runnerStorage = Layer.effect(RunnerStorage.RunnerStorage)(Effect.map(
    SqlRunnerStorage.make({ prefix: Fencing.tablePrefix }),
    // Every renewal (and every probe while the leases are lost) goes through `refresh`.
    (storage) => ({ ...storage, refresh: (address, shards) => renewal.watch(storage.refresh(address, shards)) })
  ))
  // NodeClusterSocket.layer with storage of our own, minus its reading of the environment.
  const sharding = SocketRunner.layer.pipe(
    Layer.provide([NodeClusterSocket.layerSocketServer, clientProtocol]),
    Layer.provide(RunnerHealth.layerPing.pipe(Layer.provide(Runners.layerRpc), Layer.provide(clientProtocol))),
    Layer.provide([MessageStorage.layerNoop, runnerStorage]),
    Layer.provide(config),
    Layer.provide(RpcSerialization.layerSchemaBinary())
  )
  const joined = Layer.effect(JoinedTag)(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return { sharding: yield* Sharding.Sharding, fencing: yield* Fencing.sql(sql, lease) }
  }))
  return joined.pipe(Layer.provide(sharding), Layer.provideMerge(Storage.layer(storage)))
}

interface MakeOptions {
  readonly address: string
  readonly lease: Duration.Duration
  readonly renewal: Renewal
  readonly join: Layer.Layer<JoinedTag, unknown>
  readonly describe: string
  readonly retry: Schedule.Schedule<unknown, unknown>
}

/** A runner that joins in the background, each attempt in a scope of its own, until one succeeds. */
const make = (options: MakeOptions): Effect.Effect<ClusterRunner["Service"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const layerScope = yield* Effect.scope
    const joined = yield* Deferred.make<Joined>()
    let status: Status = { _tag: "Joining", error: undefined, since: yield* Clock.currentTimeMillis }
    const step = yield* Schedule.toStep(options.retry)
    const attempt: Effect.Effect<void> = Effect.gen(function*() {
      const scope = yield* Scope.fork(layerScope)
      const exit = yield* Effect.exit(Effect.flatMap(Layer.buildWithScope(options.join, scope), (context) =>
        Effect.sync(() => Context.get(context, JoinedTag))
      ))
      const now = yield* Clock.currentTimeMillis
      if (Exit.isSuccess(exit)) {
        status = { _tag: "Joined", since: now }
        yield* Effect.logInfo(`cluster runner ${options.address}: joined (store: ${options.describe})`)
        return yield* Deferred.succeed(joined, exit.value)
      }
      yield* Scope.close(scope, exit)
      const delay = yield* Effect.orElseSucceed(Effect.map(step(now, undefined), ([, delay]) => delay), () => undefined)
      const error = new StoreUnavailable({
        storage: options.describe,
        reason: oneLine(exit.cause),
        retryMillis: delay === undefined ? null : Duration.toMillis(delay)
      })
      status = { _tag: "Joining", error, since: status._tag === "Joining" && status.error !== undefined ? status.since : now }
      yield* Effect.logWarning(`cluster runner ${options.address}: ${error.message}`)
      if (delay === undefined) return
      yield* Effect.sleep(delay)
      return yield* attempt
    })
    yield* Effect.forkIn(attempt, layerScope, { startImmediately: true })
    return {
      address: options.address,
      lease: options.lease,
      renewEvery: renewInterval(options.lease),
      status: Effect.sync(() => status),
      joined: Deferred.await(joined),
      renewal: Effect.sync(() => options.renewal.failure)
    }
  })
