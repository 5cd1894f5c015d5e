/**
 * The errors a supervision tree reports. Each is a tagged error carrying the
 * path of the child or system where it arose; those caused by something a
 * child did also carry that `Cause`, so nothing about the original failure is
 * lost.
 *
 * A parent passes a subsystem's error on as it is: a startup failure deep in
 * the tree reaches `Toplevel.start()` with the path of the child that failed,
 * not wrapped in one error per level.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Schema from "effect/Schema"
import { summary } from "./internal/summary.ts"

const AnyCause = Schema.Cause(Schema.Unknown, Schema.Unknown)

/**
 * A child's startup function failed (or a system's own `start` failed) on the
 * system's first start. The children started before it were stopped in
 * reverse order.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const started: Effect.Effect<void, Errors.ToplevelError>
 * const reported = started.pipe(
 *   Effect.catchTag("StartupFailed", (e) => Effect.logError(`${e.path} could not start`, e.cause))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class StartupFailed extends Schema.TaggedError<StartupFailed>()("StartupFailed", {
  path: Schema.String,
  cause: AnyCause
}) {
  override get message(): string {
    return `${this.path}: startup failed: ${summary(this.cause as Cause.Cause<unknown>)}`
  }
}

/**
 * A child's startup did not complete within its `startTimeout`. It appears as
 * the cause of a {@link StartupFailed} (or, during a restart, of the failure
 * that counts toward restart intensity).
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * const isTimeout = (e: unknown) => e instanceof Errors.StartupTimeout
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class StartupTimeout extends Schema.TaggedError<StartupTimeout>()("StartupTimeout", {
  path: Schema.String,
  timeout: Schema.String
}) {
  override get message(): string {
    return `${this.path}: startup did not complete within ${this.timeout}`
  }
}

/**
 * A system restarted more than its restart intensity allows. It shut all its
 * children down and failed; its parent handles this as a failure of the
 * system's child. `child` is the path of the child whose exit tipped the
 * balance and `cause` is that exit's cause.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const started: Effect.Effect<void, Errors.ToplevelError>
 * const reported = started.pipe(
 *   Effect.catchTag("TooManyRestarts", (e) => Effect.logError(e.message, e.cause))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TooManyRestarts extends Schema.TaggedError<TooManyRestarts>()("TooManyRestarts", {
  path: Schema.String,
  child: Schema.String,
  maxRestarts: Schema.Number,
  within: Schema.String,
  cause: AnyCause
}) {
  override get message(): string {
    return `${this.path}: more than ${this.maxRestarts} restarts within ${this.within}; ` +
      `last: ${this.child}: ${summary(this.cause as Cause.Cause<unknown>)}`
  }
}

/**
 * Two children of one system were declared with the same name. Names are
 * unique per system so that a path names exactly one child.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * new Errors.DuplicateChild({ path: "app/worker" }).message
 * // "app/worker: a child with this name was already declared in this system"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class DuplicateChild extends Schema.TaggedError<DuplicateChild>()("DuplicateChild", {
  path: Schema.String
}) {
  override get message(): string {
    return `${this.path}: a child with this name was already declared in this system`
  }
}

/**
 * Options (or a child name) that do not make sense: a negative or zero
 * duration, a zero intensity window, an unknown policy, a misspelt key.
 * `issue` says what is wrong and where.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * new Errors.InvalidOptions({ path: "app/db", issue: "must be a positive, finite duration\n  at [\"shutdown\"]" }).message
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  path: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `${this.path}: invalid options: ${this.issue}`
  }
}

/**
 * `Toplevel.start()` was called while that toplevel had already been started.
 * A toplevel runs its tree once; make a new one to run the tree again.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * new Errors.AlreadyStarted({ path: "app" }).message // "app: this toplevel has already been started"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class AlreadyStarted extends Schema.TaggedError<AlreadyStarted>()("AlreadyStarted", {
  path: Schema.String
}) {
  override get message(): string {
    return `${this.path}: this toplevel has already been started`
  }
}

/**
 * A system's backoff `Schedule` ended: it allows no more restarts, so the
 * next restart escalates, as `TooManyRestarts` does. `child` is the path of
 * the child whose exit asked for that restart, `restarts` how many restarts
 * the schedule allowed.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const started: Effect.Effect<void, Errors.ToplevelError>
 * const reported = started.pipe(
 *   Effect.catchTag("BackoffEnded", (e) => Effect.logError(e.message, e.cause))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class BackoffEnded extends Schema.TaggedError<BackoffEnded>()("BackoffEnded", {
  path: Schema.String,
  child: Schema.String,
  restarts: Schema.Number,
  cause: AnyCause
}) {
  override get message(): string {
    return `${this.path}: the backoff schedule ended after ${this.restarts} restarts; ` +
      `last: ${this.child}: ${summary(this.cause as Cause.Cause<unknown>)}`
  }
}

/**
 * A child declared with `liveness: { deadline }` went longer than its
 * deadline without a heartbeat (`Lifecycle.feed`). It was interrupted and
 * fails with this error, which its restart policy then handles like any
 * failure. `lastHeartbeat` is when it last made progress (epoch milliseconds).
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * new Errors.Hung({ path: "app/worker", deadline: "30s", lastHeartbeat: 0 }).message
 * // "app/worker: no heartbeat within 30s; taken for hung"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class Hung extends Schema.TaggedError<Hung>()("Hung", {
  path: Schema.String,
  deadline: Schema.String,
  lastHeartbeat: Schema.Number
}) {
  override get message(): string {
    return `${this.path}: no heartbeat within ${this.deadline}; taken for hung`
  }
}

/**
 * A child running in a worker thread stopped answering: its event loop went
 * longer than its `threshold` without a heartbeat (a busy loop, a
 * catastrophic regular expression, a synchronous call that never returns).
 * Its thread was terminated and the child fails with this error, which its
 * restart policy then handles like any failure. `where` is the frame the
 * thread was stuck in (or why none could be read), `stack` the whole stack,
 * innermost frame first. A `StallDetected` event for the child precedes its
 * `ChildExited`.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * new Errors.Stalled({ path: "app/cruncher/0", stalledForMillis: 2100, threshold: "2s", where: "spin (file:///app/jobs.ts:12:5)", stack: [] }).message
 * // "app/cruncher/0: event loop stalled for 2100 ms (threshold 2s) at spin (file:///app/jobs.ts:12:5); terminated"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class Stalled extends Schema.TaggedError<Stalled>()("Stalled", {
  path: Schema.String,
  stalledForMillis: Schema.Number,
  threshold: Schema.String,
  where: Schema.String,
  stack: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `${this.path}: event loop stalled for ${this.stalledForMillis} ms (threshold ${this.threshold}) at ${this.where}; terminated`
  }
}

/**
 * A path names no child: no such system, pool or child, or a temporary child
 * that has finished (it is forgotten, as in OTP).
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * new Errors.NotFound({ path: "app/nope" }).message // "app/nope: no such child"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  path: Schema.String
}) {
  override get message(): string {
    return `${this.path}: no such child`
  }
}

/**
 * `restartChild` was asked to start a child that is already running, starting
 * or restarting.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * new Errors.Running({ path: "app/db" }).message // "app/db: is running; terminate it first"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class Running extends Schema.TaggedError<Running>()("Running", {
  path: Schema.String
}) {
  override get message(): string {
    return `${this.path}: is running; terminate it first`
  }
}

/**
 * A pool already holds `maxChildren` children (those restarting included), so
 * `spawn` refused another: at once, or after waiting `waited` for a slot (the
 * `wait` option) in vain.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * new Errors.PoolFull({ path: "app/jobs", maxChildren: 10 }).message // "app/jobs: pool is full (10 children)"
 * new Errors.PoolFull({ path: "app/jobs", maxChildren: 10, waited: "30s" }).message
 * // "app/jobs: pool is full (10 children); no slot came free within 30s"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class PoolFull extends Schema.TaggedError<PoolFull>()("PoolFull", {
  path: Schema.String,
  maxChildren: Schema.Number,
  /** For a caller that waited for a slot: how long it waited (`"30s"`). */
  waited: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    const full = `${this.path}: pool is full (${this.maxChildren} children)`
    return this.waited === undefined ? full : `${full}; no slot came free within ${this.waited}`
  }
}

/**
 * A pool is shutting down or has stopped, so `spawn` refused a child. A pool
 * that restarts is a new pool: its system hands the new handle out again.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * new Errors.PoolClosed({ path: "app/jobs" }).message // "app/jobs: pool is not running"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class PoolClosed extends Schema.TaggedError<PoolClosed>()("PoolClosed", {
  path: Schema.String
}) {
  override get message(): string {
    return `${this.path}: pool is not running`
  }
}

/**
 * What a system can fail with: on its first start (`StartupFailed`,
 * `InvalidOptions`, `DuplicateChild`) or later (`TooManyRestarts`,
 * `BackoffEnded`).
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * const describe = (error: Errors.SystemError): string => `${error._tag} at ${error.path}`
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export type SystemError = StartupFailed | TooManyRestarts | BackoffEnded | InvalidOptions | DuplicateChild

/**
 * What `Toplevel.start()` can fail with.
 *
 * @example
 * ```ts
 * import type { Errors, Toplevel } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const toplevel: Toplevel.Toplevel<never>
 * const main: Effect.Effect<void, Errors.ToplevelError> = toplevel.start()
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export type ToplevelError = SystemError | AlreadyStarted

/**
 * Whether a value is one of the errors a system fails with. A parent uses this
 * to pass a subsystem's error on unwrapped.
 *
 * @example
 * ```ts
 * import { Errors } from "@arbor/core"
 *
 * Errors.isSystemError(new Errors.DuplicateChild({ path: "app/a" })) // true
 * Errors.isSystemError(new Error("boom")) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isSystemError = (u: unknown): u is SystemError =>
  u instanceof StartupFailed || u instanceof TooManyRestarts || u instanceof BackoffEnded ||
  u instanceof InvalidOptions || u instanceof DuplicateChild
