import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { SystemError } from "../Errors.ts"
import type { Supervising } from "./child.ts"
import { registerGauges } from "./gauges.ts"

/** What handling one event decided: keep supervising, or end with this exit. */
export type Outcome = Exit.Exit<void, SystemError> | undefined

/**
 * The loop of a supervisor, a system's or a pool's: its settle request is
 * posted to its mailbox, its gauges are registered for its life, `first`
 * runs, then every event is handled, in the order it came, until one decides
 * the end. All the events waiting are taken per wake-up: a busy supervisor
 * gets many between two of its turns.
 */
export const supervise = <Event>(options: {
  readonly node: Supervising
  readonly settling: Effect.Effect<void>
  readonly mailbox: Queue.Queue<Event>
  readonly settle: Event
  readonly first: Effect.Effect<void>
  readonly handle: (event: Event) => Effect.Effect<Outcome>
}): Effect.Effect<void, SystemError, Scope.Scope> =>
  Effect.gen(function*() {
    const { handle, mailbox } = options
    yield* Effect.forkChild(Effect.andThen(options.settling, Queue.offer(mailbox, options.settle)))
    const gauges = yield* registerGauges(options.node)
    yield* Effect.addFinalizer(() => Effect.sync(gauges))
    yield* options.first
    while (true) {
      for (const event of yield* Queue.takeAll(mailbox)) {
        const outcome: Outcome = yield* handle(event)
        if (outcome !== undefined) return yield* outcome
      }
    }
  })
