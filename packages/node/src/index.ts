/**
 * @arbor/node: run Arbor supervision trees as Node.js processes.
 *
 * @since 0.1.0
 */

/** Running a toplevel as the process's main program: signals, exit codes, a hard deadline. */
export * as NodeToplevel from "./NodeToplevel.ts"
/** Watching a running tree over HTTP: metrics, health, readiness, the snapshot, the events. */
export * as NodeObserver from "./NodeObserver.ts"
