/**
 * What the main thread and the watchdog's worker share: the layout of the
 * shared memory, the worker's configuration and the messages they exchange.
 * The worker imports only this module and Node's own, so it starts fast and
 * needs no package resolution (it runs from `src/` and from `dist/` alike).
 */

/** Cells of the `BigInt64Array` over the shared buffer. */
export const Cell = {
  /** `process.hrtime.bigint()` when the main thread last beat (or was fed). */
  beat: 0,
  /** 1 while `inspector.url()` is set in the main thread: a debugger may hold it paused. */
  debugger: 1
} as const

/** The number of cells. */
export const cells = 2

/** The worker's configuration, all durations in milliseconds. */
export interface WorkerConfig {
  readonly threshold: number
  /** How often the worker looks again while the main thread is stalled (to see it recover). */
  readonly poll: number
  readonly captureStack: boolean
  readonly captureTimeout: number
  readonly profile: { readonly duration: number; readonly directory: string } | undefined
  readonly action: "log" | "exit"
  readonly signal: "SIGKILL" | "SIGABRT"
  readonly exitAfter: number
  /** The file descriptor reports are written to with `fs.writeSync`. */
  readonly fd: number
}

/** What the worker is started with. */
export interface WorkerData {
  readonly shared: SharedArrayBuffer
  readonly config: WorkerConfig
}

/** A frame of the main thread's JavaScript stack; line and column count from 1. */
export interface Frame {
  readonly functionName: string
  readonly url: string
  readonly line: number
  readonly column: number
}

/** Main thread → worker. */
export type ToWorker = { readonly _tag: "Snapshot"; readonly json: string }

/** Worker → main thread. */
export type FromWorker =
  | { readonly _tag: "Watching" }
  | {
    readonly _tag: "Recovered"
    /** Epoch milliseconds when the stall was detected. */
    readonly at: number
    /** From the last heartbeat before the stall to the first one after it. */
    readonly stalledFor: number
    readonly stack: ReadonlyArray<Frame>
    readonly stackUnavailable: string | undefined
    readonly profile: string | undefined
  }
