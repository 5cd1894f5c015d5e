import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as LogLevel from "effect/LogLevel"

/**
 * Logs a lifecycle line about `path`, annotated with it so that structured
 * loggers can filter by child. A cause, when given, is logged with it.
 */
export const logAt = (
  level: LogLevel.Severity,
  path: string,
  message: string,
  cause?: Cause.Cause<unknown>
): Effect.Effect<void> => {
  const line = `${path}: ${message}`
  const logged = cause === undefined ? Effect.logWithLevel(level)(line) : Effect.logWithLevel(level)(line, cause)
  return Effect.annotateLogs(logged, "path", path)
}
