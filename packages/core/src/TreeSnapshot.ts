/**
 * Tree snapshots: the whole tree as JSON, at one moment.
 *
 * `toplevel.snapshot` reads it; `toplevel.changes` streams it again after
 * every lifecycle event. Every node has its path, kind, restart policy,
 * state, start time, restart count and last exit; systems and pools have
 * their children (a pool lists at most the toplevel's `snapshotPoolLimit`
 * children, and gives its counts). A tree with health gates lists them
 * beside its root.
 *
 * `toplevel.inspect(path)` reads one node in more depth: its settings, how
 * close its system is to giving up, and a page of its children (a pool's
 * beyond the snapshot's limit).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Where a child is in its life (`Toplevel.ChildState`): `starting`,
 * `running`, `settling`, `restarting` or `stopped`.
 *
 * @example
 * ```ts
 * import { TreeSnapshot } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.is(TreeSnapshot.ChildState)("settling") // true
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const ChildState = Schema.Literals(["starting", "running", "settling", "restarting", "stopped"])
/** @since 0.1.0 */
export type ChildState = typeof ChildState.Type

/**
 * What kind of child (`Toplevel.ChildKind`): a `worker`, a `system` or a `pool`.
 *
 * @example
 * ```ts
 * import { TreeSnapshot } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.is(TreeSnapshot.ChildKind)("pool") // true
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const ChildKind = Schema.Literals(["worker", "system", "pool"])
/** @since 0.1.0 */
export type ChildKind = typeof ChildKind.Type

/**
 * How a child last ended: `kind`, a one-line `message`, and `at` (epoch milliseconds).
 *
 * @example
 * ```ts
 * import { TreeSnapshot } from "@arbor/core"
 *
 * const exit: TreeSnapshot.LastExit = { kind: "failure", message: "Error: connection refused", at: 1_700_000_000_000 }
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const LastExit = Schema.Struct({
  kind: Schema.Literals(["normal", "failure", "defect", "interrupted"]),
  message: Schema.String,
  at: Schema.Number
})
/** @since 0.1.0 */
export type LastExit = typeof LastExit.Type

/**
 * A pool's counts: all its children, those running, those waiting to
 * restart, and the callers waiting for a slot of the full pool.
 *
 * @example
 * ```ts
 * import { TreeSnapshot } from "@arbor/core"
 *
 * const counts: TreeSnapshot.PoolCounts = { children: 12_000, running: 11_998, restarting: 2, waiting: 40 }
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const PoolCounts = Schema.Struct({
  children: Schema.Number,
  running: Schema.Number,
  restarting: Schema.Number,
  waiting: Schema.Number
})
/** @since 0.1.0 */
export type PoolCounts = typeof PoolCounts.Type

/**
 * One node of the tree: a worker, a system or a pool.
 *
 * @example
 * ```ts
 * import type { TreeSnapshot } from "@arbor/core"
 *
 * const walk = (node: TreeSnapshot.Node): Array<string> => [
 *   `${node.path}: ${node.state}`,
 *   ...(node.children ?? []).flatMap(walk)
 * ]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Node {
  readonly path: string
  readonly name: string
  readonly kind: ChildKind
  readonly restart: "permanent" | "transient" | "temporary"
  readonly state: ChildState
  /** When its current incarnation started (epoch milliseconds); null if it never ran. */
  readonly startedAt: number | null
  readonly restarts: number
  readonly lastExit: LastExit | null
  /** For a child with a liveness deadline: its last heartbeat (epoch milliseconds). */
  readonly lastHeartbeat?: number
  /** For a child that made a `ChildRuntime`: how many fibers it runs from callbacks now. */
  readonly callbackFibers?: number
  /** A system's strategy. */
  readonly strategy?: string
  /** A pool's counts; its `children` list may be cut at the snapshot limit. */
  readonly counts?: PoolCounts
  readonly children?: ReadonlyArray<Node>
}

/**
 * The schema of a {@link Node}, for decoding a snapshot served as JSON.
 *
 * @example
 * ```ts
 * import { TreeSnapshot } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * declare const body: string
 * const tree = Schema.decodeUnknownSync(Schema.fromJsonString(TreeSnapshot.TreeSnapshot))(body)
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Node: Schema.Codec<Node> = Schema.Struct({
  path: Schema.String,
  name: Schema.String,
  kind: ChildKind,
  restart: Schema.Literals(["permanent", "transient", "temporary"]),
  state: ChildState,
  startedAt: Schema.NullOr(Schema.Number),
  restarts: Schema.Number,
  lastExit: Schema.NullOr(LastExit),
  lastHeartbeat: Schema.optionalKey(Schema.Number),
  callbackFibers: Schema.optionalKey(Schema.Number),
  strategy: Schema.optionalKey(Schema.String),
  counts: Schema.optionalKey(PoolCounts),
  children: Schema.optionalKey(Schema.Array(Schema.suspend((): Schema.Codec<Node> => Node)))
})

/**
 * A health gate of the tree: its `name`, the `path` of the system or child
 * that made it, its `state`, since when and why (unless healthy), and how
 * many times it latched.
 *
 * @example
 * ```ts
 * import { TreeSnapshot } from "@arbor/core"
 *
 * const gate: TreeSnapshot.Gate = { name: "store", path: "spool", state: "latched", reason: "fatal: disk full", since: 0, latches: 1 }
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Gate = Schema.Struct({
  name: Schema.String,
  path: Schema.String,
  state: Schema.Literals(["healthy", "suspect", "latched"]),
  reason: Schema.optionalKey(Schema.String),
  since: Schema.optionalKey(Schema.Number),
  latches: Schema.Number
})
/** @since 0.1.0 */
export type Gate = typeof Gate.Type

/**
 * Where a tree run as a cluster singleton (`ClusterToplevel.singleton` in
 * `@arbor/cluster`) stands, as one runner sees it: the singleton's name, this
 * runner's address, its `role` (`joining` the cluster, `owner` of the tree,
 * `standby` while another runner owns it, `leaving`), the owner and its
 * fencing token as the cluster's store records them (`ownerSince`: when it
 * took over, epoch milliseconds), whether the store answers (`store`, with
 * the last error and since when), and how many times ownership came to or
 * left this runner (`ownershipChanges`).
 *
 * @example
 * ```ts
 * import type { TreeSnapshot } from "@arbor/core"
 *
 * const line = (cluster: TreeSnapshot.ClusterStatus) =>
 *   `${cluster.singleton} on ${cluster.owner ?? "no runner"} (token ${cluster.fencingToken}); here: ${cluster.role}`
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const ClusterStatus = Schema.Struct({
  singleton: Schema.String,
  runner: Schema.String,
  role: Schema.Literals(["joining", "owner", "standby", "leaving"]),
  owner: Schema.NullOr(Schema.String),
  fencingToken: Schema.NullOr(Schema.Number),
  ownerSince: Schema.NullOr(Schema.Number),
  store: Schema.Struct({
    available: Schema.Boolean,
    message: Schema.NullOr(Schema.String),
    since: Schema.NullOr(Schema.Number)
  }),
  ownershipChanges: Schema.Number
})
/** @since 0.1.0 */
export type ClusterStatus = typeof ClusterStatus.Type

/**
 * The whole tree: its root node and when the snapshot was taken; the tree's
 * health gates, if it has any; for a tree run as a cluster singleton, where
 * it stands in the cluster (`cluster`).
 *
 * @example
 * ```ts
 * import { Toplevel } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const toplevel: Toplevel.Toplevel<never>
 * const json = Effect.map(toplevel.snapshot, (snapshot) => JSON.stringify(snapshot, null, 2))
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const TreeSnapshot = Schema.Struct({
  at: Schema.Number,
  root: Node,
  gates: Schema.optionalKey(Schema.Array(Gate)),
  cluster: Schema.optionalKey(ClusterStatus)
})
/** @since 0.1.0 */
export type TreeSnapshot = typeof TreeSnapshot.Type

/**
 * A child's own settings, as declared: its `shutdown` budget (`"5s"`,
 * `"brutal"`, `"infinity"`), its `startTimeout` and liveness `deadline` if it
 * has them, and whether it is `significant`.
 *
 * @example
 * ```ts
 * import { TreeSnapshot } from "@arbor/core"
 *
 * const settings: TreeSnapshot.Settings = { shutdown: "5s", startTimeout: "30s", significant: false }
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Settings = Schema.Struct({
  shutdown: Schema.String,
  startTimeout: Schema.optionalKey(Schema.String),
  deadline: Schema.optionalKey(Schema.String),
  significant: Schema.Boolean
})
/** @since 0.1.0 */
export type Settings = typeof Settings.Type

/**
 * How close the system or pool at `path` is to giving up: `restarts` in its
 * intensity window now (the last `within`), of at most `maxRestarts`; one
 * more than that and it escalates. `backoff`: whether it waits between
 * restarts.
 *
 * @example
 * ```ts
 * import type { TreeSnapshot } from "@arbor/core"
 *
 * const margin = (use: TreeSnapshot.IntensityUse) => use.maxRestarts - use.restarts
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const IntensityUse = Schema.Struct({
  path: Schema.String,
  restarts: Schema.Number,
  maxRestarts: Schema.Number,
  within: Schema.String,
  backoff: Schema.Boolean
})
/** @since 0.1.0 */
export type IntensityUse = typeof IntensityUse.Type

/**
 * One node in depth, as `toplevel.inspect(path)` reads it: the snapshot
 * `node`, whose `children` are those from `offset` on (at most the limit
 * asked for); its `settings`; for a running system or pool, its own
 * `intensity` window and its own options (`autoShutdown` of a system,
 * `maxChildren` and `wait` of a pool: `null` for none); and `supervisor`,
 * the window of the system or pool that restarts it (none for the root).
 *
 * @example
 * ```ts
 * import { Toplevel } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const toplevel: Toplevel.Toplevel<never>
 * const nearEscalation = Effect.map(toplevel.inspect("app/payments/gateway"), (detail) =>
 *   detail.supervisor !== undefined && detail.supervisor.restarts >= detail.supervisor.maxRestarts)
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Detail = Schema.Struct({
  at: Schema.Number,
  node: Node,
  offset: Schema.Number,
  settings: Settings,
  intensity: Schema.optionalKey(IntensityUse),
  autoShutdown: Schema.optionalKey(Schema.String),
  maxChildren: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  wait: Schema.optionalKey(Schema.NullOr(Schema.String)),
  supervisor: Schema.optionalKey(IntensityUse)
})
/** @since 0.1.0 */
export type Detail = typeof Detail.Type
