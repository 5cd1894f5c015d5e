import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Tracer from "effect/Tracer"
import type { Lifecycle } from "../Lifecycle.ts"

/**
 * The supervisor's side of a child's `Lifecycle`: the child reads it, the
 * supervisor calls `requestSettle`. The `Deferred` behind `settling` and the
 * `AbortController` behind `signal` are made only when a child asks for them:
 * a short-lived pool task usually asks for neither, and a busy pool should
 * not pay for them.
 */
type Service = Lifecycle["Service"]

export class LifecycleHandle implements Service {
  private requested = false
  private settled: Deferred.Deferred<void> | undefined
  private controller: AbortController | undefined
  /** The span of the stop that asked it to settle: a subsystem's shutdown span nests under it. */
  settleSpan: Tracer.AnySpan | undefined
  /** When the child last made progress (epoch milliseconds): set when it starts running, then by each heartbeat. */
  lastHeartbeat = 0

  readonly name: string
  readonly path: string

  constructor(name: string, path: string) {
    this.name = name
    this.path = path
  }

  // The effects are made when read, not per child: most children read one of them once, if at all.
  get isSettling(): Effect.Effect<boolean> {
    return Effect.sync(() => this.settleRequested)
  }

  get settling(): Effect.Effect<void> {
    if (this.requested) return Effect.void
    this.settled ??= Deferred.makeUnsafe()
    return Deferred.await(this.settled)
  }

  get heartbeat(): Effect.Effect<void> {
    return Effect.map(Clock.currentTimeMillis, (now) => {
      this.lastHeartbeat = now
    })
  }

  get settleRequested(): boolean {
    return this.requested
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.settleRequested) this.controller.abort(settleReason(this.path))
    }
    return this.controller.signal
  }

  requestSettle(): void {
    if (this.requested) return
    this.requested = true
    if (this.settled !== undefined) Deferred.doneUnsafe(this.settled, Exit.void)
    this.controller?.abort(settleReason(this.path))
  }
}

// An AbortError, so that fetch and friends report the abort the way they usually do.
const settleReason = (path: string) => new DOMException(`${path} was asked to settle`, "AbortError")
