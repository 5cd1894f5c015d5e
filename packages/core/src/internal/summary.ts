import * as Cause from "effect/Cause"

/** A one-line description of a cause, for messages whose full cause is attached separately. */
export const summary = (cause: Cause.Cause<unknown>): string => {
  if (cause.reasons.length === 0) return "no cause"
  if (Cause.hasInterruptsOnly(cause)) return "interrupted"
  const error = Cause.squash(cause)
  if (error instanceof Error) {
    const firstLine = error.message.split("\n", 1)[0] ?? ""
    return firstLine.length > 0 ? `${error.name}: ${firstLine}` : error.name
  }
  return typeof error === "string" ? error : safeJson(error)
}

const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
