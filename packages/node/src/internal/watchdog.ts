/**
 * The main thread's half of the watchdog: options, the heartbeat, the worker.
 */
import { Errors, Options } from "@arbor/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import { closeSync, openSync } from "node:fs"
import * as inspector from "node:inspector"
import { tmpdir } from "node:os"
import { Worker } from "node:worker_threads"
import type { FromWorker, ToWorker, WorkerConfig, WorkerData } from "./watchdogProtocol.ts"
import { Cell, cells } from "./watchdogProtocol.ts"

/** The path `InvalidOptions` names for the watchdog's options. */
export const path = "watchdog"

const LogTarget = Schema.declare(
  (u): u is number | string =>
    (typeof u === "number" && Number.isSafeInteger(u) && u >= 0) || (typeof u === "string" && u.length > 0),
  { expected: "a file descriptor (a whole number ≥ 0) or a file path" }
)

/** The options of any stall watch: the watchdog's of the main thread, a worker child's `stall`. */
export const stallFields = {
  threshold: Schema.optionalKey(Options.PositiveDuration),
  heartbeat: Schema.optionalKey(Options.PositiveDuration),
  captureStack: Schema.optionalKey(Schema.Boolean),
  captureTimeout: Schema.optionalKey(Options.PositiveDuration)
}

export const OptionsSchema = Schema.Struct({
  ...stallFields,
  profile: Schema.optionalKey(Schema.Struct({
    duration: Options.PositiveDuration,
    directory: Schema.optionalKey(Schema.NonEmptyString)
  })),
  action: Schema.optionalKey(Schema.Literals(["log", "exit"])),
  signal: Schema.optionalKey(Schema.Literals(["SIGKILL", "SIGABRT"])),
  exitAfter: Schema.optionalKey(Options.PositiveDuration),
  logTo: Schema.optionalKey(LogTarget)
})

/** Validated options, durations in milliseconds, defaults filled in. */
export interface Config extends Omit<WorkerConfig, "fd"> {
  readonly heartbeat: number
  readonly logTo: number | string
}

export const millis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

const invalid = (path: string, issue: string, at: string) => new Errors.InvalidOptions({ path, issue: `${issue}\n  at ${at}` })

/** A stall watch's timing, in milliseconds, defaults filled in. */
export interface Timing {
  readonly threshold: number
  readonly heartbeat: number
  readonly captureStack: boolean
  readonly captureTimeout: number
}

/**
 * Checks what a schema cannot: the threshold and heartbeat together.
 * `at` shows where the options sit (`["stall"]` for a worker child's).
 */
export const checkTiming = (
  options: Schema.Struct.Type<typeof stallFields>,
  path: string,
  at = ""
): Effect.Effect<Timing, Errors.InvalidOptions> => {
  const threshold = millis(options.threshold ?? "5 seconds")
  // Node's timers cannot wait longer: a longer delay silently becomes 1 ms.
  if (threshold > 2 ** 31 - 1) return Effect.fail(invalid(path, "must be at most 24 days", `${at}["threshold"]`))
  const heartbeat = options.heartbeat === undefined ? threshold / 5 : millis(options.heartbeat)
  // A heartbeat close to the threshold lets a healthy loop look stalled between two beats.
  if (heartbeat > threshold / 2) {
    const issue = `must be at most half the threshold (${threshold} ms), got ${heartbeat} ms`
    return Effect.fail(invalid(path, issue, `${at}["heartbeat"]`))
  }
  if (heartbeat < 1) return Effect.fail(invalid(path, `must be at least 1 millisecond, got ${heartbeat} ms`, `${at}["heartbeat"]`))
  return Effect.succeed({
    threshold,
    heartbeat,
    captureStack: options.captureStack ?? true,
    captureTimeout: options.captureTimeout === undefined ? 500 : millis(options.captureTimeout)
  })
}

export const decode = (input: unknown): Effect.Effect<Config, Errors.InvalidOptions> =>
  Effect.flatMap(Options.decode(OptionsSchema, path, input), (options) => Effect.flatMap(checkTiming(options, path), (timing) => {
    const action = options.action ?? "log"
    for (const key of ["signal", "exitAfter"] as const) {
      if (options[key] !== undefined && action !== "exit") {
        return Effect.fail(invalid(path, `only applies with action: "exit"`, `["${key}"]`))
      }
    }
    return Effect.succeed({
      ...timing,
      // While stalled the worker looks this often to see the main thread recover; idle, it wakes at the deadline.
      poll: Math.min(Math.max(timing.heartbeat / 4, 10), 250),
      profile: options.profile === undefined ? undefined : {
        duration: millis(options.profile.duration),
        directory: options.profile.directory ?? tmpdir()
      },
      action,
      signal: options.signal ?? "SIGKILL",
      exitAfter: options.exitAfter === undefined ? 0 : millis(options.exitAfter),
      logTo: options.logTo ?? 2
    })
  }))

/** A running watchdog, as the main thread drives it. */
export interface Running {
  readonly ready: Promise<void>
  readonly feed: () => void
  readonly share: (json: string) => void
  readonly disarm: () => Promise<void>
}

const workerUrl = (): URL => {
  // Sources run as .ts (node --conditions=@arbor/source), the build as .js: the worker is whichever sits beside this module.
  const extension = import.meta.url.endsWith(".ts") ? ".ts" : ".js"
  return new URL(`./watchdogWorker${extension}`, import.meta.url)
}

/** Where a failed worker is reported, when nobody else reports it: plain code has no logger. */
const reportToStderr = (message: string): void => {
  process.stderr.write(`${message}\n`)
}

export const start = (
  config: Config,
  onStall: (stall: Extract<FromWorker, { _tag: "Recovered" }>) => void,
  onFailure: (message: string) => void = reportToStderr
): Running => {
  let fd: number
  let opened = false
  if (typeof config.logTo === "number") {
    fd = config.logTo
  } else {
    try {
      fd = openSync(config.logTo, "a")
      opened = true
    } catch (error) {
      throw new Errors.InvalidOptions({ path, issue: `cannot open for appending: ${String(error)}\n  at ["logTo"]` })
    }
  }
  const shared = new SharedArrayBuffer(cells * BigInt64Array.BYTES_PER_ELEMENT)
  const view = new BigInt64Array(shared)
  const beat = () => {
    Atomics.store(view, Cell.beat, process.hrtime.bigint())
    Atomics.store(view, Cell.debugger, inspector.url() === undefined ? 0n : 1n)
  }
  beat()
  const { logTo: _, heartbeat: __, ...rest } = config
  let worker: Worker
  try {
    worker = new Worker(workerUrl(), {
      workerData: { shared, config: { ...rest, fd } } satisfies WorkerData,
      // Not the main thread's flags: --inspect, --import hooks or --cpu-prof would apply to the worker too.
      execArgv: [],
      name: "arbor-watchdog"
    })
  } catch (error) {
    if (opened) closeSync(fd)
    throw error
  }
  const timer = setInterval(beat, config.heartbeat).unref()

  let resolveReady: () => void
  let rejectReady: (error: unknown) => void
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve
    rejectReady = reject
  })
  // Whoever arms it need not wait for it; an unobserved failure is still reported below.
  ready.catch(() => {})
  worker.on("message", (message: FromWorker) => {
    if (message._tag === "Watching") {
      // Held until the worker watches, so that awaiting `ready` works in a program with nothing else to do;
      // from then on it never keeps the process alive.
      worker.unref()
      resolveReady()
    }
    else onStall(message)
  })
  worker.on("error", (error) => {
    rejectReady(error)
    onFailure(`arbor watchdog: the worker failed, stalls are no longer watched: ${String(error)}`)
  })

  let disarmed: Promise<void> | undefined
  return {
    ready,
    feed: () => Atomics.store(view, Cell.beat, process.hrtime.bigint()),
    share: (json) => {
      if (disarmed === undefined) worker.postMessage({ _tag: "Snapshot", json } satisfies ToWorker)
    },
    disarm: () => {
      disarmed ??= (async () => {
        clearInterval(timer)
        rejectReady(new Error("the watchdog was disarmed before its worker started"))
        await worker.terminate()
        if (opened) closeSync(fd)
      })()
      return disarmed
    }
  }
}

/** `Watchdog.stallsTotal`: also updated by the stall watch of worker children. */
export const stallsTotal: Metric.Counter<number> = Metric.counter("arbor_event_loop_stalls_total", {
  description: "Times the event loop was stalled for longer than the watchdog's threshold",
  incremental: true
})

/** `Watchdog.stallSeconds`: also updated by the stall watch of worker children. */
export const stallSeconds: Metric.Histogram<number> = Metric.histogram("arbor_event_loop_stall_seconds", {
  description: "How long the event loop was stalled, from the last heartbeat before to the first after",
  boundaries: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
})
