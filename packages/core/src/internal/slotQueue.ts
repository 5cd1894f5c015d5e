import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/** Resumes a waiting caller: with `Effect.void` once it has a slot, or with the failure that ends its wait. */
type Resume = (effect: Effect.Effect<void, unknown>) => void

interface Waiter {
  resume: Resume
  /** Handed a slot: counted as taken until its caller places its child or hands the slot back. */
  granted: boolean
}

/** How long a caller waits for a slot of a full pool: a duration or `"infinity"`. */
export type SlotWait = Duration.Duration | "infinity"

/**
 * The callers waiting for a slot of a full pool, in arrival order. A slot
 * that comes free is *granted* to the first of them and counts as taken
 * until its caller has placed its child, so nobody arriving later, waiting or
 * not, overtakes a waiter. A waiter interrupted or timed out leaves nothing
 * behind: one still waiting is forgotten, one that was granted a slot in the
 * meantime hands it on.
 */
export class SlotQueue {
  private readonly waiting = new Set<Waiter>()
  /** Slots granted to waiters that have not placed their child yet. */
  granted = 0
  /** Called when a granted slot was not used after all: the pool hands it on if it still has room. */
  private readonly returned: () => void

  constructor(returned: () => void) {
    this.returned = returned
  }

  /** How many callers wait. */
  get size(): number {
    return this.waiting.size
  }

  /**
   * Waits up to `limit` for a slot, failing with `timedOut()` after it, then
   * runs `place` on the slot. `place` is called at once once the slot is
   * granted, with no interruption in between, and must take the slot there
   * and then (put the child's record in the pool) or leave it unused: a slot
   * it leaves is handed on.
   */
  await<A, E, E2>(
    limit: SlotWait,
    timedOut: () => E2,
    place: () => Effect.Effect<A, E>
  ): Effect.Effect<A, E | E2> {
    return Effect.uninterruptibleMask((restore) => {
      const waiter: Waiter = { resume: undefined as unknown as Resume, granted: false }
      const suspended = Effect.callback<void, unknown>((resume) => {
        waiter.resume = resume
        this.waiting.add(waiter)
        // Interrupted (or timed out) while still waiting: forgotten.
        return Effect.sync(() => void this.waiting.delete(waiter))
      })
      const bounded = limit === "infinity" ? suspended : Effect.timeoutOrElse(suspended, {
        duration: limit,
        orElse: () => Effect.fail(timedOut())
      })
      const waited = Effect.onExit(restore(bounded), (exit) => {
        // Granted a slot, then interrupted before it could take it: the next waiter gets it.
        if (Exit.isFailure(exit) && waiter.granted) this.giveBack()
        return Effect.void
      })
      return Effect.flatMap(waited, () => {
        this.granted--
        const placed = place()
        this.returned()
        return restore(placed)
      }) as Effect.Effect<A, E | E2>
    })
  }

  /** A slot came free: grants it to the first waiter. False when nobody waits. */
  grant(): boolean {
    const first = this.waiting.values().next()
    if (first.done === true) return false
    const waiter = first.value
    this.waiting.delete(waiter)
    waiter.granted = true
    this.granted++
    waiter.resume(Effect.void)
    return true
  }

  /** The pool closes: every waiter fails with `error`. */
  close(error: unknown): void {
    const waiters = Array.from(this.waiting)
    this.waiting.clear()
    for (const waiter of waiters) waiter.resume(Effect.fail(error))
  }

  private giveBack(): void {
    this.granted--
    this.returned()
  }
}
