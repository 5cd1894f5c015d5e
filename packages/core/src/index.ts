/**
 * @arbor/core: Erlang/OTP-style supervision trees for Effect.
 *
 * @since 0.1.0
 */

/** Retrying an operation that answers "busy", under deadlines. */
export * as Backpressure from "./Backpressure.ts"
/** How a child ended, as its supervisor sees it. */
export * as ChildExit from "./ChildExit.ts"
/** Running effects from callbacks as fibers a child owns. */
export * as ChildRuntime from "./ChildRuntime.ts"
/** The errors a supervision tree reports. */
export * as Errors from "./Errors.ts"
/** Health gates: stop taking work while a dependency is bad, and take it again once it recovered. */
export * as HealthGate from "./HealthGate.ts"
/** Lifecycle events of a running tree. */
export * as LifecycleEvent from "./LifecycleEvent.ts"
/** The `Lifecycle` service of a running child. */
export * as Lifecycle from "./Lifecycle.ts"
/** A child's main loop and the value it hands back. */
export * as MainLoop from "./MainLoop.ts"
/** The metrics a tree keeps. */
export * as Metrics from "./Metrics.ts"
/** Schemas of the options, for validating configuration. */
export * as Options from "./Options.ts"
/** Pools of dynamic children. */
export * as Pool from "./Pool.ts"
/** Restart intensity: how many restarts within how long. */
export * as RestartIntensity from "./RestartIntensity.ts"
/** Restart policies: permanent, transient, temporary. */
export * as RestartPolicy from "./RestartPolicy.ts"
/** Restart strategies. */
export * as RestartStrategy from "./RestartStrategy.ts"
/** The shutdown token. */
export * as ShutdownToken from "./ShutdownToken.ts"
/** Systems (supervisors) and the scope they declare children through. */
export * as System from "./System.ts"
/** Running a tree from `main`, and administering it. */
export * as Toplevel from "./Toplevel.ts"
/** Snapshots of a running tree. */
export * as TreeSnapshot from "./TreeSnapshot.ts"
