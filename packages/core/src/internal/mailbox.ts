import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { SystemError } from "../Errors.ts"
import type { Supervising } from "./child.ts"
import { registerGauges } from "./gauges.ts"

/** What handling one event decided: keep supervising, or end with this exit. */
export type Outcome = Exit.Exit<void, SystemError> | undefined

/**
 * A supervisor's mailbox: the events posted, in order, taken all at once. A
 * supervisor waiting for its next event is resumed by the post itself, on
 * the poster's stack, as a `Deferred`'s waiter is; a `Queue` resumes its
 * taker on a later turn of the event loop, which made that turn most of a
 * restart's latency in a tree that was idle when its child crashed (see
 * docs/performance.md). A caller that waits for the supervisor's answer
 * posts with `request` instead.
 */
export class Mailbox<Event> {
  private events: Array<Event> = []
  private waiter: Deferred.Deferred<void> | undefined = undefined

  /** Posts `event`, resuming the supervisor at once if it waits for one. */
  post(event: Event): void {
    this.events.push(event)
    this.wake()
  }

  /**
   * Posts `event` from `caller`, which then waits for the supervisor's
   * answer: the supervisor is resumed by the caller's scheduler, once the
   * caller waits. Run on the caller's stack, it would answer others, already
   * waiting, before this caller could take its own answer, so that callers
   * would hear in another order than they were answered.
   */
  request(caller: Fiber.Fiber<unknown, unknown>, event: Event): void {
    this.events.push(event)
    if (this.waiter !== undefined) caller.currentDispatcher.scheduleTask(() => this.wake(), 0)
  }

  private wake(): void {
    const waiter = this.waiter
    if (waiter === undefined) return
    this.waiter = undefined
    Deferred.doneUnsafe(waiter, Exit.void)
  }

  /** `post` as an effect. */
  offer(event: Event): Effect.Effect<void> {
    return Effect.sync(() => this.post(event))
  }

  /** Every event posted since the last take, once there is one. */
  readonly takeAll: Effect.Effect<ReadonlyArray<Event>> = Effect.suspend(() => {
    if (this.events.length > 0) return Effect.succeed(this.take())
    const waiter = this.waiter = Deferred.makeUnsafe<void>()
    return Effect.map(Deferred.await(waiter), () => this.take())
  })

  private take(): ReadonlyArray<Event> {
    const events = this.events
    this.events = []
    return events
  }
}

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
  readonly mailbox: Mailbox<Event>
  readonly settle: Event
  readonly first: Effect.Effect<void>
  readonly handle: (event: Event) => Effect.Effect<Outcome>
}): Effect.Effect<void, SystemError, Scope.Scope> =>
  Effect.gen(function*() {
    const { handle, mailbox } = options
    yield* Effect.forkChild(Effect.andThen(options.settling, mailbox.offer(options.settle)))
    const gauges = yield* registerGauges(options.node)
    yield* Effect.addFinalizer(() => Effect.sync(gauges))
    yield* options.first
    while (true) {
      for (const event of yield* mailbox.takeAll) {
        const outcome: Outcome = yield* handle(event)
        if (outcome !== undefined) return yield* outcome
      }
    }
  })
