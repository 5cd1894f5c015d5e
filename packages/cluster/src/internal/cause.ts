import * as Cause from "effect/Cause"

/** A failure on one line: the error's message and those of its causes (a driver's, the server's). */
export const oneLine = (cause: Cause.Cause<unknown>): string => {
  const messages: Array<string> = []
  for (let error: unknown = Cause.squash(cause); error !== undefined && messages.length < 4;) {
    // The first error's own name says what it is (TooManyRestarts); a module path such as effect/sql/SqlError does not.
    const named = messages.length === 0 && error instanceof Error && error.name !== "Error" && !error.name.includes("/")
    const text = error instanceof Error ? `${named ? `${error.name}: ` : ""}${error.message}` : String(error)
    const line = text.split("\n", 1)[0]!
    if (line !== "" && !messages.some((seen) => seen.includes(line))) messages.push(line)
    error = error instanceof Error && error.cause instanceof Error ? error.cause : undefined
  }
  return messages.join(": ")
}
