import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import type { Lifecycle } from "../Lifecycle.ts"

type Service = Lifecycle["Service"]

type Resume = (effect: Effect.Effect<void>) => void

const empty: Scope.State.Empty = { _tag: "Empty" }

/**
 * One incarnation of a child, as the child sees it: its `Lifecycle` (the
 * child reads it, the supervisor calls `requestSettle`) and its `Scope`,
 * which its supervisor closes when the incarnation ends. One object for both:
 * an idle child keeps it, and a scope of its own (an object with a property
 * array) cost each child about 100 bytes. `Scope` is a plain interface over
 * `state`, which Effect's scope functions read and write.
 *
 * The `AbortController` behind `signal` is made only when a child asks for
 * it: a short-lived pool task usually does not, and a busy pool should not
 * pay for it.
 *
 * `Child` is the record of the child it is an incarnation of (`ChildRecord`
 * in `child.ts`, which imports this module: a parameter keeps the two apart).
 */
export class LifecycleHandle<Child extends object = object> implements Service, Scope.Closeable {
  declare readonly "~effect/Scope": "~effect/Scope"
  declare readonly "~effect/Scope/Closeable": "~effect/Scope/Closeable"
  declare readonly strategy: "sequential"
  declare readonly parent: undefined
  state: Scope.Scope["state"] = empty
  private requested = false
  /**
   * The fibers waiting in `settling`: one function for the usual single waiter
   * (a `Deferred` with its waiter array cost an idle child about 220 bytes).
   */
  private waiting: Resume | Array<Resume> | undefined
  private controller: AbortController | undefined
  /** The span of the stop that asked it to settle: a subsystem's shutdown span nests under it. */
  settleSpan: Tracer.AnySpan | undefined
  /** When the child last made progress (epoch milliseconds): set when it starts running, then by each heartbeat. */
  lastHeartbeat = 0
  /**
   * How many fibers its `ChildRuntime`s run now; `undefined` until it makes
   * one. On the prototype until then, so that other children do not carry it.
   */
  declare callbackFibers: number | undefined

  readonly name: string
  readonly path: string
  /** The child it is an incarnation of; none for the toplevel's root system. */
  readonly child: Child | undefined

  constructor(name: string, path: string, child?: Child) {
    this.name = name
    this.path = path
    this.child = child
  }

  // The effects are made when read, not per child: most children read one of them once, if at all.
  get isSettling(): Effect.Effect<boolean> {
    return Effect.sync(() => this.settleRequested)
  }

  get settling(): Effect.Effect<void> {
    if (this.requested) return Effect.void
    return Effect.callback((resume: Resume) => {
      if (this.requested) return resume(Effect.void)
      this.wait(resume)
      return Effect.sync(() => this.unwait(resume))
    })
  }

  private wait(resume: Resume): void {
    const waiting = this.waiting
    this.waiting = waiting === undefined ? resume : Array.isArray(waiting) ? [...waiting, resume] : [waiting, resume]
  }

  private unwait(resume: Resume): void {
    const waiting = this.waiting
    if (waiting === resume) this.waiting = undefined
    else if (Array.isArray(waiting)) this.waiting = waiting.filter((waiter) => waiter !== resume)
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
    const waiting = this.waiting
    this.waiting = undefined
    if (typeof waiting === "function") waiting(Effect.void)
    else waiting?.forEach((resume) => resume(Effect.void))
    this.controller?.abort(settleReason(this.path))
  }
}

// An AbortError, so that fetch and friends report the abort the way they usually do.
const settleReason = (path: string) => new DOMException(`${path} was asked to settle`, "AbortError")

// The parts every incarnation shares are on the prototype, not in each object.
Object.assign(LifecycleHandle.prototype, {
  "~effect/Scope": "~effect/Scope",
  "~effect/Scope/Closeable": "~effect/Scope/Closeable",
  strategy: "sequential",
  parent: undefined,
  callbackFibers: undefined
})
