/**
 * @arbor/node: run Arbor supervision trees as Node.js processes.
 *
 * @since 0.1.0
 */

/** Running a toplevel as the process's main program: signals, exit codes, a hard deadline. */
export * as NodeToplevel from "./NodeToplevel.ts"
/** Watching a running tree over HTTP: metrics, health, readiness, the snapshot, the events. */
export * as NodeObserver from "./NodeObserver.ts"
/** The event-loop watchdog: stalls of the main thread detected, explained and, if asked, ended. */
export * as Watchdog from "./Watchdog.ts"
/** Children that run in a worker thread, and whose stalls heal. */
export * as WorkerChild from "./WorkerChild.ts"
/** The inside of a worker child (import it from `@arbor/node/WorkerRunner` in the worker's module). */
export * as WorkerRunner from "./WorkerRunner.ts"
/** A pool of worker children for CPU jobs. */
export * as WorkerPool from "./WorkerPool.ts"
/** Children that run a command as an OS process. */
export * as ProcessChild from "./ProcessChild.ts"
