/**
 * Lifecycle events: what happens in a running tree, as typed values.
 *
 * `toplevel.events` streams them to every subscriber from the moment it
 * subscribes until the tree has stopped. Each subscriber has its own bounded
 * buffer that drops its *oldest* events when full, so a slow subscriber loses
 * events instead of slowing supervision down. Every event is also logged (at
 * a level that fits it) with its path as a log annotation.
 *
 * The events are plain JSON-serialisable objects, defined with
 * `effect/Schema`, with `_tag`, the `path` they are about and `at` (epoch
 * milliseconds from Effect's `Clock`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const Kind = Schema.Literals(["worker", "system", "pool"])
const ExitKind = Schema.Literals(["normal", "failure", "defect", "interrupted"])
const base = { path: Schema.String, at: Schema.Number }

/**
 * A child's startup function begins (`restarts`: how many times it was started before).
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const event: LifecycleEvent.ChildStarting = { _tag: "ChildStarting", path: "app/db", at: 0, kind: "worker", restarts: 0 }
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const ChildStarting = Schema.TaggedStruct("ChildStarting", { ...base, kind: Kind, restarts: Schema.Number })
/** @since 0.1.0 */
export type ChildStarting = typeof ChildStarting.Type

/**
 * A child's startup function returned: it runs. `startupMillis` is how long its startup took.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const slow = (event: LifecycleEvent.ChildStarted) => event.startupMillis > 1000
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const ChildStarted = Schema.TaggedStruct("ChildStarted", { ...base, kind: Kind, startupMillis: Schema.Number })
/** @since 0.1.0 */
export type ChildStarted = typeof ChildStarted.Type

/**
 * A child's startup function failed (`message`: a one-line summary of the cause).
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (event: LifecycleEvent.ChildStartFailed) => `${event.path}: ${event.message}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const ChildStartFailed = Schema.TaggedStruct("ChildStartFailed", { ...base, message: Schema.String })
/** @since 0.1.0 */
export type ChildStartFailed = typeof ChildStartFailed.Type

/**
 * A running child's main loop ended. `exit` says how, `message` sums up the
 * cause, `decision` what its supervisor does: `"restart"`, `"stay down"` (its
 * policy does not restart it) or `"stopped"` (its supervisor stopped it).
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const crashed = (event: LifecycleEvent.ChildExited) => event.exit === "failure" || event.exit === "defect"
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const ChildExited = Schema.TaggedStruct("ChildExited", {
  ...base,
  exit: ExitKind,
  message: Schema.String,
  decision: Schema.Literals(["restart", "stay down", "stopped"])
})
/** @since 0.1.0 */
export type ChildExited = typeof ChildExited.Type

/**
 * A child was asked to settle; it has `budget` (`"5s"`, `"infinity"`) before it is interrupted.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const event: LifecycleEvent.ChildSettling = { _tag: "ChildSettling", path: "app/api", at: 0, budget: "5s" }
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const ChildSettling = Schema.TaggedStruct("ChildSettling", { ...base, budget: Schema.String })
/** @since 0.1.0 */
export type ChildSettling = typeof ChildSettling.Type

/**
 * A child did not settle within its `budget` and was interrupted.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (event: LifecycleEvent.ChildInterrupted) => `${event.path} ignored settling for ${event.budget}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const ChildInterrupted = Schema.TaggedStruct("ChildInterrupted", { ...base, budget: Schema.String })
/** @since 0.1.0 */
export type ChildInterrupted = typeof ChildInterrupted.Type

/**
 * A system (or pool) restarts because of `child`'s exit, under `strategy`
 * (`"pool"` for a pool's child), after `delayMillis` of backoff. `restart`
 * is how many restarts its intensity window holds now, this one included
 * (the window slides, so it can go down again); one more than `maxRestarts`
 * gives up.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (e: LifecycleEvent.SystemRestarting) => `${e.path}: ${e.restart} of at most ${e.maxRestarts} restarts in the window, because of ${e.child}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const SystemRestarting = Schema.TaggedStruct("SystemRestarting", {
  ...base,
  child: Schema.String,
  strategy: Schema.Literals(["one_for_all", "rest_for_one", "one_for_one", "pool"]),
  restart: Schema.Number,
  maxRestarts: Schema.Number,
  delayMillis: Schema.Number
})
/** @since 0.1.0 */
export type SystemRestarting = typeof SystemRestarting.Type

/**
 * A system (or pool) gave up: it stopped its children and failed with
 * `error` (`"TooManyRestarts"`, `"BackoffEnded"`, `"StartupFailed"`, ...),
 * which its parent now handles.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (event: LifecycleEvent.Escalated) => `${event.path} escalated: ${event.message}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const Escalated = Schema.TaggedStruct("Escalated", { ...base, error: Schema.String, message: Schema.String })
/** @since 0.1.0 */
export type Escalated = typeof Escalated.Type

/**
 * The tree (or a system, by `autoShutdown`) was asked to shut down.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const event: LifecycleEvent.ShutdownRequested = { _tag: "ShutdownRequested", path: "app", at: 0, reason: "signal" }
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const ShutdownRequested = Schema.TaggedStruct("ShutdownRequested", {
  ...base,
  reason: Schema.Literals(["signal", "autoShutdown"])
})
/** @since 0.1.0 */
export type ShutdownRequested = typeof ShutdownRequested.Type

/**
 * A shutdown completed: of the tree (the toplevel's path) or of a pool.
 * `forced` counts the children interrupted because they did not settle in
 * time; more than zero means the shutdown was graceful but not complete.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const clean = (event: LifecycleEvent.ShutdownCompleted) => event.forced === 0
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const ShutdownCompleted = Schema.TaggedStruct("ShutdownCompleted", { ...base, stopped: Schema.Number, forced: Schema.Number })
/** @since 0.1.0 */
export type ShutdownCompleted = typeof ShutdownCompleted.Type

/**
 * An event loop was stalled for `stalledForMillis`; `where` is the stuck
 * JavaScript frame, or why there is none (native code); `stack`, when it
 * could be read, the whole JavaScript stack, innermost frame first. Either the process's
 * main thread (`path` is the toplevel's): no fiber, supervisors included,
 * could run; an event-loop watchdog reports it after the loop recovered. Or
 * a child running in a worker thread (`path` is the child's): its thread was
 * terminated, and the child's `ChildExited` with a `Stalled` cause follows.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (event: LifecycleEvent.StallDetected) => `stalled ${event.stalledForMillis} ms at ${event.where}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const StallDetected = Schema.TaggedStruct("StallDetected", {
  ...base,
  stalledForMillis: Schema.Number,
  where: Schema.String,
  stack: Schema.optionalKey(Schema.Array(Schema.String))
})
/** @since 0.1.0 */
export type StallDetected = typeof StallDetected.Type

/**
 * A health gate latched: from now on its `guard` fails with `Unhealthy`.
 * `path` is the system or child that made the gate, `gate` its name and
 * `reason` why it latched.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (event: LifecycleEvent.GateLatched) => `gate ${event.gate} latched: ${event.reason}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const GateLatched = Schema.TaggedStruct("GateLatched", { ...base, gate: Schema.String, reason: Schema.String })
/** @since 0.1.0 */
export type GateLatched = typeof GateLatched.Type

/**
 * A health gate cleared: `by` `"quiet"` (no new trouble for its
 * `unlatchAfter`) or `"reset"`, after being latched for `latchedMillis`.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (event: LifecycleEvent.GateUnlatched) => `gate ${event.gate} cleared after ${event.latchedMillis} ms`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const GateUnlatched = Schema.TaggedStruct("GateUnlatched", {
  ...base,
  gate: Schema.String,
  by: Schema.Literals(["quiet", "reset"]),
  latchedMillis: Schema.Number
})
/** @since 0.1.0 */
export type GateUnlatched = typeof GateUnlatched.Type

/**
 * A tree run as a cluster singleton (`ClusterToplevel.singleton` in
 * `@arbor/cluster`) became owned by this runner (`runner`, its address) and
 * starts there with a new `fencingToken`. `previousOwner` is the runner that
 * had it before (null the first time); `ownerlessMillis` how long no runner
 * ran it before this one (null when unknown).
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const failover = (event: LifecycleEvent.OwnershipAcquired) =>
 *   event.previousOwner !== null && event.previousOwner !== event.runner
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const OwnershipAcquired = Schema.TaggedStruct("OwnershipAcquired", {
  ...base,
  runner: Schema.String,
  fencingToken: Schema.Number,
  previousOwner: Schema.NullOr(Schema.String),
  ownerlessMillis: Schema.NullOr(Schema.Number)
})
/** @since 0.1.0 */
export type OwnershipAcquired = typeof OwnershipAcquired.Type

/**
 * This runner stopped running a cluster singleton's tree, whose incarnation
 * had `fencingToken`: `reason` says why (the runner stops, ownership moved or
 * its lease could not be renewed, a newer token superseded it). The tree has
 * settled by then.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (event: LifecycleEvent.OwnershipReleased) => `${event.runner} let go of token ${event.fencingToken}: ${event.reason}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const OwnershipReleased = Schema.TaggedStruct("OwnershipReleased", {
  ...base,
  runner: Schema.String,
  fencingToken: Schema.Number,
  reason: Schema.String
})
/** @since 0.1.0 */
export type OwnershipReleased = typeof OwnershipReleased.Type

/**
 * A cluster singleton's tree gave up (`message`: its error, `TooManyRestarts`
 * say) on the runner that owns it; it starts again after `delayMillis`, with a
 * new fencing token, on whichever runner owns it then.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (event: LifecycleEvent.SingletonRestarting) => `again in ${event.delayMillis} ms after: ${event.message}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const SingletonRestarting = Schema.TaggedStruct("SingletonRestarting", {
  ...base,
  runner: Schema.String,
  fencingToken: Schema.Number,
  message: Schema.String,
  delayMillis: Schema.Number
})
/** @since 0.1.0 */
export type SingletonRestarting = typeof SingletonRestarting.Type

/**
 * The store of a cluster (`@arbor/cluster`) could not be reached from this
 * runner: `message` says why; when `retryMillis` is not null, the runner
 * tries to join again after that long. `available: true` is the store back.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (event: LifecycleEvent.ClusterStore) => event.available ? "store back" : `store down: ${event.message}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const ClusterStore = Schema.TaggedStruct("ClusterStore", {
  ...base,
  runner: Schema.String,
  available: Schema.Boolean,
  message: Schema.String,
  retryMillis: Schema.NullOr(Schema.Number)
})
/** @since 0.1.0 */
export type ClusterStore = typeof ClusterStore.Type

/**
 * Someone asked for a control action: `by` (the name of the token they
 * presented to the observer, say) asked to `terminate` or `restart` the
 * child at `path`, or to `shutdown` the tree (`path` is the toplevel's).
 * Published before the action runs; the events of the action follow.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 *
 * const line = (event: LifecycleEvent.ControlRequested) => `${event.by} asked to ${event.action} ${event.path}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const ControlRequested = Schema.TaggedStruct("ControlRequested", {
  ...base,
  action: Schema.Literals(["terminate", "restart", "shutdown"]),
  by: Schema.String
})
/** @since 0.1.0 */
export type ControlRequested = typeof ControlRequested.Type

/**
 * Any lifecycle event.
 *
 * @example
 * ```ts
 * import { LifecycleEvent, Toplevel } from "@arbor/core"
 * import { Effect, Schema, Stream } from "effect"
 *
 * declare const toplevel: Toplevel.Toplevel<never>
 * const crashes = toplevel.events.pipe(
 *   Stream.filter((event) => event._tag === "ChildExited" && event.exit !== "normal"),
 *   Stream.map((event) => Schema.encodeSync(Schema.fromJsonString(LifecycleEvent.LifecycleEvent))(event))
 * )
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const LifecycleEvent = Schema.Union([
  ChildStarting,
  ChildStarted,
  ChildStartFailed,
  ChildExited,
  ChildSettling,
  ChildInterrupted,
  SystemRestarting,
  Escalated,
  ShutdownRequested,
  ShutdownCompleted,
  StallDetected,
  GateLatched,
  GateUnlatched,
  OwnershipAcquired,
  OwnershipReleased,
  SingletonRestarting,
  ClusterStore,
  ControlRequested
])
/** @since 0.1.0 */
export type LifecycleEvent = typeof LifecycleEvent.Type

/**
 * A lifecycle event with its number in its toplevel's sequence: 1 for the
 * first event the toplevel published, then 2, 3, ... with no number skipped.
 * A reader that keeps the last number it had can resume after it
 * (`toplevel.eventsAfter(id)`); the observer's `/events` sends it as each
 * frame's `id:`.
 *
 * @example
 * ```ts
 * import type { LifecycleEvent } from "@arbor/core"
 *
 * const frame = (item: LifecycleEvent.Numbered | LifecycleEvent.Gap) =>
 *   item._tag === "Gap" ? `${item.missed} events lost` : `#${item.id}: ${item.event._tag} ${item.event.path}`
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export interface Numbered {
  readonly _tag: "Numbered"
  readonly id: number
  readonly event: LifecycleEvent
}

/**
 * Events a reader cannot have: `missed` events after number `after` (the last
 * one the reader had) were lost to it, because the toplevel no longer holds
 * them or because the reader fell too far behind. The events that follow go
 * on from number `after + missed + 1`. A reader that keeps state built from
 * the events (a dashboard) should rebuild it, from a fresh snapshot say.
 *
 * @example
 * ```ts
 * import { LifecycleEvent } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * const gap = Schema.decodeUnknownSync(Schema.fromJsonString(LifecycleEvent.Gap))('{"_tag":"Gap","missed":12,"after":40}')
 * ```
 *
 * @category events
 * @since 0.1.0
 */
export const Gap = Schema.TaggedStruct("Gap", { missed: Schema.Number, after: Schema.Number })
/** @since 0.1.0 */
export type Gap = typeof Gap.Type
