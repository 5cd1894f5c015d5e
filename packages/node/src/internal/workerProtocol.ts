/**
 * What a worker child and its runner exchange over the worker's port. Every
 * message has an `arbor` key, so that a module's own messages on the same
 * port are left alone. Types only: the runner imports them without loading
 * another module into every worker.
 */

/** Main thread → worker. */
export type ToRunner =
  | {
    readonly arbor: "init"
    /** The child's path and name, for the worker's `Lifecycle`. */
    readonly path: string
    readonly name: string
    /** One `BigInt64Array` cell: `process.hrtime.bigint()` at the worker's last heartbeat. */
    readonly heartbeat: SharedArrayBuffer
    /** How often the worker beats, in milliseconds; 0 when its stalls are not watched. */
    readonly every: number
  }
  | { readonly arbor: "call"; readonly id: number; readonly method: string; readonly args: ReadonlyArray<unknown> }
  | { readonly arbor: "settle" }

/** Worker → main thread. */
export type FromRunner =
  | { readonly arbor: "ready" }
  | { readonly arbor: "reply"; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly arbor: "reply"; readonly id: number; readonly ok: false; readonly error: unknown }
