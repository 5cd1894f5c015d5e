import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"

/**
 * Logs a lifecycle line about `path`, annotated with it so that structured
 * loggers can filter by child. A cause, when given, is logged with it. A
 * line below the minimum log level costs nothing more than that check: a
 * large pool starts and stops children at a high rate.
 */
export const logAt = (
  level: LogLevel.Severity,
  path: string,
  message: string,
  cause?: Cause.Cause<unknown>
): Effect.Effect<void> =>
  Effect.withFiber((fiber) => logged(fiber, level) ? logLine(level, path, message, cause) : Effect.void)

/** Whether `fiber` logs at `level`. */
export const logged = (fiber: Fiber.Fiber<unknown, unknown>, level: LogLevel.Severity): boolean =>
  !LogLevel.isLessThan(level, fiber.getRef(References.MinimumLogLevel))

/** The log line itself, without the level check. */
export const logLine = (
  level: LogLevel.Severity,
  path: string,
  message: string,
  cause?: Cause.Cause<unknown>
): Effect.Effect<void> => {
  const line = `${path}: ${message}`
  const logged = cause === undefined ? Effect.logWithLevel(level)(line) : Effect.logWithLevel(level)(line, cause)
  return Effect.annotateLogs(logged, "path", path)
}
