/**
 * OS-process children: a child of the tree that runs a command, through
 * Effect's `ChildProcess` (from `effect/process`) in a process group of its
 * own.
 *
 * Asked to settle, the process group gets `settleSignal` (SIGTERM by
 * default); after the child's budget the whole group gets SIGKILL. Exiting
 * with a non-zero code, or killed by a signal it was not asked to stop with,
 * fails the child with {@link ProcessExited}. Its startup returns once the
 * process is ready: at once, when a line of its stdout matches a pattern, or
 * when a TCP port accepts connections. Its stdout and stderr become log lines
 * annotated with the child's path. A memory limit restarts a process whose
 * resident memory stays above it (PM2's `max_memory_restart`).
 *
 * When the tree stops, every process it started is gone. When Node itself is
 * killed with SIGKILL (nothing runs then), on Linux the command is started
 * through `setpriv --pdeathsig SIGKILL` (util-linux), so that the kernel
 * kills it with its parent; see docs/processes.md for what that covers.
 *
 * The spawner comes from the `ChildProcessSpawner` service:
 * `NodeServices.layer` from `@effect/platform-node` provides it.
 *
 * @since 0.1.0
 */
import type { Errors, Lifecycle, MainLoop } from "@arbor/core"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as PlatformError from "effect/PlatformError"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/processChild.ts"

/**
 * When the startup of a process child returns: `"immediately"` (default),
 * once a line of its stdout matches `stdout`, or once `port` (on `host`,
 * default 127.0.0.1) accepts TCP connections. Bound it with the child's
 * `startTimeout`.
 *
 * @example
 * ```ts
 * import type { ProcessChild } from "@arbor/node"
 *
 * const byLine: ProcessChild.Readiness = { stdout: /listening on/ }
 * const byPort: ProcessChild.Readiness = { port: 6379 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Readiness =
  | "immediately"
  | { readonly stdout: RegExp }
  | { readonly port: number; readonly host?: string }

/**
 * Options of a process child. Bad ones (a command that cannot be found, a
 * negative limit) fail its startup with `InvalidOptions` at the child's path,
 * before any process starts.
 *
 * @example
 * ```ts
 * import type { ProcessChild } from "@arbor/node"
 *
 * const options: ProcessChild.Options = {
 *   cwd: "/srv/helper",
 *   env: { LOG_LEVEL: "info" },
 *   ready: { stdout: /ready/ },
 *   settleSignal: "SIGINT",
 *   memoryLimit: { megabytes: 512, for: "10 seconds" }
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The working directory; default the process's. */
  readonly cwd?: string
  /** Added to the process's environment. */
  readonly env?: Readonly<Record<string, string>>
  /** When the startup returns; default `"immediately"`. */
  readonly ready?: Readiness
  /** The signal that asks the process group to settle; default `"SIGTERM"`. */
  readonly settleSignal?: "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGQUIT" | "SIGUSR1" | "SIGUSR2"
  /**
   * Fail (and so restart) the process when its resident memory stays above
   * `megabytes` for `for` (default 5 seconds), sampled every `every`
   * (default 1 second). Linux only (it reads `/proc`).
   */
  readonly memoryLimit?: { readonly megabytes: number; readonly for?: Duration.Input; readonly every?: Duration.Input }
  /**
   * What happens to the process if Node dies without stopping the tree
   * (SIGKILL, a crash in native code): `"kill"` (default on Linux) has the
   * kernel send it SIGKILL (`setpriv --pdeathsig`); `"ignore"` leaves it.
   */
  readonly parentDeath?: "kill" | "ignore"
}

/**
 * What a process child's startup hands back: its process id, which is also
 * its process group's.
 *
 * @example
 * ```ts
 * import type { ProcessChild } from "@arbor/node"
 *
 * const describe = (info: ProcessChild.ProcessInfo) => `pid ${info.pid}`
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ProcessInfo {
  readonly pid: number
}

/**
 * The process ended other than normally: a non-zero `exitCode`, or killed by
 * `signal` (one it was not asked to settle with).
 *
 * @example
 * ```ts
 * import { ProcessChild } from "@arbor/node"
 *
 * new ProcessChild.ProcessExited({ path: "app/helper", exitCode: 3, signal: null }).message
 * // "app/helper: process exited with code 3"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const ProcessExited: typeof internal.ProcessExited = internal.ProcessExited
/** @since 0.1.0 */
export type ProcessExited = internal.ProcessExited

/**
 * The process's resident memory stayed above its `memoryLimit`.
 *
 * @example
 * ```ts
 * import { ProcessChild } from "@arbor/node"
 *
 * new ProcessChild.MemoryLimitExceeded({ path: "app/helper", rssMegabytes: 700, limitMegabytes: 512, for: "5s" }).message
 * // "app/helper: resident memory 700 MB stayed above its limit of 512 MB for 5s"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const MemoryLimitExceeded: typeof internal.MemoryLimitExceeded = internal.MemoryLimitExceeded
/** @since 0.1.0 */
export type MemoryLimitExceeded = internal.MemoryLimitExceeded

/**
 * A process child's startup function: runs `command` with `args` in a
 * process group of its own and returns once it is ready, with its pid.
 *
 * @example
 * ```ts
 * import { System } from "@arbor/core"
 * import { ProcessChild } from "@arbor/node"
 * import { Effect } from "effect"
 *
 * const app = System.make((scope) =>
 *   Effect.gen(function*() {
 *     const helper = yield* scope.child(
 *       "helper",
 *       ProcessChild.make("python3", ["-m", "http.server", "8000"], { ready: { port: 8000 } }),
 *       { shutdown: "5 seconds", startTimeout: "10 seconds" }
 *     )
 *     yield* Effect.log(`helper runs as pid ${helper.pid}`)
 *   })
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  command: string,
  args: ReadonlyArray<string> = [],
  options: Options = {}
): Effect.Effect<
  MainLoop.MainLoop<ProcessInfo>,
  Errors.InvalidOptions | ProcessExited | PlatformError.PlatformError,
  Lifecycle.Lifecycle | Scope.Scope | ChildProcessSpawner
> => internal.make(command, args, options)
