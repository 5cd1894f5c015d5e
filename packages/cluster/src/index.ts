/**
 * @arbor/cluster: run an Arbor supervision tree as a cluster-wide singleton
 * on effect/cluster.
 *
 * @since 0.1.0
 */

/** This process as a runner of a cluster: its address, its store, its leases. */
export * as ClusterRunner from "./ClusterRunner.ts"
/** A tree that runs once in a whole cluster, and moves when its runner goes. */
export * as ClusterToplevel from "./ClusterToplevel.ts"
/** The fencing token of a singleton's incarnation, for its tree. */
export * as Ownership from "./Ownership.ts"
/** The metrics of cluster singletons. */
export * as SingletonMetrics from "./SingletonMetrics.ts"
/** An `effect/sql` client over Node's built-in `node:sqlite`. */
export * as SqliteClient from "./SqliteClient.ts"
/** Where a cluster keeps its state: an embedded SQLite file or PostgreSQL. */
export * as Storage from "./Storage.ts"
