import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scheduler from "effect/Scheduler"
import type * as Scope from "effect/Scope"
import type { SystemError } from "../Errors.ts"
import type { Supervising } from "./child.ts"
import { registerGauges } from "./gauges.ts"

/** What handling one event decided: keep supervising, or end with this exit. */
export type Outcome = Exit.Exit<void, SystemError> | undefined

/**
 * A supervisor's mailbox: the events posted, in order, taken all at once.
 *
 * A system's supervisor waiting for its next event is resumed by the post
 * itself, on the poster's stack, as a `Deferred`'s waiter is: a `Queue`
 * resumes its taker on the scheduler's next task, and that turn was most of
 * a restart's latency in a tree that was idle when its child crashed (see
 * docs/performance.md). A pool's (`batched`) is resumed on the next task, as
 * before: its exits come in bursts (a short task ends as it starts), which
 * it handles many at a time. A caller that waits for the supervisor's answer
 * posts with `request`.
 */
export class Mailbox<Event> {
  private events: Array<Event> = []
  private waiter: Deferred.Deferred<void> | undefined = undefined
  /** The waiting supervisor's dispatcher, and whether a wake-up is scheduled on it. */
  private dispatcher: Scheduler.SchedulerDispatcher | undefined = undefined
  private scheduled = false
  private readonly batched: boolean

  constructor(options: { readonly batched: boolean }) {
    this.batched = options.batched
  }

  /** Posts `event`: a waiting supervisor is resumed at once, a pool's on the next task. */
  post(event: Event): void {
    this.events.push(event)
    if (this.batched) this.wakeSoon()
    else this.wake()
  }

  /**
   * Posts `event` from a caller that then waits for the supervisor's answer:
   * the supervisor is resumed on the next task, once the caller waits. Run
   * on the caller's stack, it would answer others, already waiting, before
   * this caller could take its own answer: callers would hear in another
   * order than they were answered.
   */
  request(event: Event): void {
    this.events.push(event)
    this.wakeSoon()
  }

  /** `post` as an effect. */
  offer(event: Event): Effect.Effect<void> {
    return Effect.sync(() => this.post(event))
  }

  /** Every event posted since the last take, once there is one. */
  readonly takeAll: Effect.Effect<ReadonlyArray<Event>> = Effect.withFiber((fiber) => {
    if (this.events.length > 0) return Effect.succeed(this.take())
    this.dispatcher = fiber.currentDispatcher
    const waiter = this.waiter = Deferred.makeUnsafe<void>()
    return Effect.map(Deferred.await(waiter), () => this.take())
  })

  private wake(): void {
    const waiter = this.waiter
    if (waiter === undefined) return
    this.waiter = undefined
    Deferred.doneUnsafe(waiter, Exit.void)
  }

  private wakeSoon(): void {
    if (this.waiter === undefined || this.scheduled) return
    this.scheduled = true
    this.dispatcher!.scheduleTask(() => {
      this.scheduled = false
      this.wake()
    }, 0)
  }

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
