/**
 * What the tree of a cluster singleton knows about its own incarnation: the
 * singleton's name, the runner it runs on, and its **fencing token**.
 *
 * Each time a runner starts the tree (after taking ownership over, or after
 * the tree gave up and is started again), the cluster's store grants it a new
 * token, greater than every token granted before, and only while that runner
 * holds the singleton's lease. effect/cluster's leases expire but do not
 * fence: a runner that froze (a long GC pause, SIGSTOP, a VM migration) and
 * resumes after its lease went to another runner may still run its tree for
 * a moment beside the new one. A store that remembers the highest token it
 * has seen and refuses writes with a lower one keeps that moment harmless.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"

/**
 * The service, provided to every startup function and main loop of the
 * singleton's tree (a system that reads it has it in its requirements, which
 * `ClusterToplevel.singleton` provides).
 *
 * @example
 * ```ts
 * import { Ownership } from "@arbor/cluster"
 * import { MainLoop } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const write: (entry: string, fencingToken: number) => Effect.Effect<void>
 *
 * const journal = Effect.gen(function*() {
 *   const { fencingToken, runner } = yield* Ownership.Ownership
 *   return yield* MainLoop.spawn(write(`started on ${runner}`, fencingToken))
 * })
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Ownership extends Context.Service<Ownership, {
  /** The singleton's name. */
  readonly singleton: string
  /** The address of the runner it runs on. */
  readonly runner: string
  /** This incarnation's fencing token: greater than the token of every incarnation before it. */
  readonly fencingToken: number
  /** When this runner was granted the token (epoch milliseconds). */
  readonly since: number
}>()("@arbor/cluster/Ownership") {}
