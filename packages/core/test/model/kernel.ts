/**
 * A tiny deterministic discrete-event kernel for the reference model: processes
 * are generators that wait for timers and signals, time only moves when the
 * test says so, and timers due at the same instant fire in the order they were
 * registered — the way `TestClock` wakes sleepers. Each timer's cascade runs
 * to quiescence before the next timer fires, as `TestClock.adjust` does: each
 * is a *segment*, and everything in a segment happens after every earlier one.
 * A process spawned runs at once until it waits, and a signal resumes its
 * waiters at once, nested in the step that resolved it: the way Effect runs a
 * fiber forked with `startImmediately` and resumes one waiting on a Deferred.
 * What is `defer`red runs after that, in the order it was deferred, before
 * the next timer: the way a message offered to a `Queue` reaches the fiber
 * waiting to take it, through the scheduler.
 *
 * That is one order of many: Arbor defines the order of events within a
 * supervisor, not between independent ones. So the kernel also tracks what
 * each step *knows* (a vector clock per strand: a process, or a callback woken
 * by a signal), passed on by spawning, by resolving a signal and by posting to
 * a mailbox. An entry of the journal marked with it (`mark`) is ordered after
 * another only when it knows of it; entries that do not know of each other may
 * come in either order.
 *
 * Timers due at the same instant fire in the order they were registered; for
 * two registered in one cascade by strands that do not know of each other,
 * that order is not defined either. The kernel then cannot tell which fires
 * first in Arbor, and says so (`undecided`): the case stops being comparable.
 */

/** What a strand knows: for each strand, how many of its entries it has seen. */
export type Clock = Map<number, number>

/** A thread of causality: a process, or a callback that a signal woke. */
export interface Strand {
  readonly id: number
  readonly clock: Clock
}

/** Where a journal entry stands in the causal order: see `happensBefore`. */
export interface Mark {
  readonly segment: number
  readonly strand: number
  readonly count: number
  readonly clock: Clock
}

/** Whether `a` is ordered before `b`: an earlier segment, or `b` knows of `a`. */
export const happensBefore = (a: Mark, b: Mark): boolean =>
  a.segment < b.segment || (a.segment === b.segment && (b.clock.get(a.strand) ?? 0) >= a.count)

export type Wait =
  | { readonly _tag: "Sleep"; readonly ms: number; readonly label: string }
  | { readonly _tag: "Await"; readonly signal: Signal<any> }
  /** Waits for the signal, at most `ms`: resumes with `true` if the signal came first. */
  | { readonly _tag: "AwaitFor"; readonly signal: Signal<any>; readonly ms: number; readonly label: string }

export type Proc<A = void> = Generator<Wait, A, any>

export class Signal<A> {
  private resolved: { readonly value: A } | undefined
  /** What its resolver knew: whoever it wakes knows it too. */
  clock: Clock | undefined
  readonly waiters: Array<(value: A) => void> = []

  get done(): boolean {
    return this.resolved !== undefined
  }

  get value(): A {
    if (this.resolved === undefined) throw new Error("signal not resolved")
    return this.resolved.value
  }

  resolve(kernel: Kernel, value: A): boolean {
    if (this.resolved !== undefined) return false
    this.resolved = { value }
    const clock = this.clock = new Map(kernel.current.clock)
    const waiters = this.waiters.splice(0)
    for (const waiter of waiters) kernel.resume(() => waiter(value), clock)
    return true
  }
}

export interface Timer {
  readonly due: number
  readonly seq: number
  readonly label: string
  readonly fire: () => void
  /** Who registered it, when: the test driver's own timers (`"command"`) have none, as they come after everything. */
  readonly mark: Mark | undefined
  cancelled: boolean
}

export class Task {
  alive = true
  readonly strand: Strand
  timer: Timer | undefined
  waiter: { readonly signal: Signal<any>; readonly resume: (value: any) => void } | undefined
  readonly done = new Signal<unknown>()
  readonly gen: Proc<unknown>
  constructor(gen: Proc<unknown>, strand: Strand) {
    this.gen = gen
    this.strand = strand
  }
}

export class Kernel {
  now = 0
  /** The current cascade: each timer that fires starts a new one. */
  segment = 0
  /** Set when two timers fired at the same instant in an order that is not defined: what they were. */
  undecided: string | undefined
  private seq = 0
  private strands = 0
  private timers: Array<Timer> = []
  private readonly deferred: Array<{ readonly run: () => void; readonly clock: Clock }> = []
  /** The strand running now. */
  current: Strand = this.strand()

  /** A new strand, knowing what `clock` knows. */
  private strand(clock?: Clock): Strand {
    return { id: ++this.strands, clock: new Map(clock) }
  }

  private within<A>(strand: Strand, run: () => A): A {
    const previous = this.current
    this.current = strand
    try {
      return run()
    } finally {
      this.current = previous
    }
  }

  /** The current strand learns what `clock` knows. */
  learn(clock: Clock | undefined): void {
    if (clock === undefined) return
    const own = this.current.clock
    for (const [strand, count] of clock) if ((own.get(strand) ?? 0) < count) own.set(strand, count)
  }

  /** Marks an entry the current strand writes now. */
  mark(): Mark {
    const { id, clock } = this.current
    const count = (clock.get(id) ?? 0) + 1
    clock.set(id, count)
    return { segment: this.segment, strand: id, count, clock: new Map(clock) }
  }

  /** Runs `run` now, on a strand of its own that knows what `clock` knows: a waiter a signal resumes. */
  resume(run: () => void, clock: Clock): void {
    this.within(this.strand(clock), run)
  }

  /** Runs `run` once what runs now is done, on a strand of its own that knows what the current one knows. */
  defer(run: () => void): void {
    this.deferred.push({ run, clock: new Map(this.current.clock) })
  }

  /** Runs everything deferred, and what that defers in turn. */
  drain(): void {
    for (let guard = 0; this.deferred.length > 0; guard++) {
      if (guard > 1_000_000) throw new Error("model: what is deferred never ends")
      const { run, clock } = this.deferred.shift()!
      this.within(this.strand(clock), run)
    }
  }

  /** Registers a timer `ms` from now; a timer for a time not after now fires at once, as `Effect.sleep` returns at once. */
  timer(ms: number, label: string, fire: () => void): Timer {
    const mark = label === "command" ? undefined : this.mark()
    const timer: Timer = { due: this.now + ms, seq: ++this.seq, label, fire, mark, cancelled: false }
    this.timers.push(timer)
    return timer
  }

  cancel(timer: Timer | undefined): void {
    if (timer === undefined) return
    timer.cancelled = true
    this.timers = this.timers.filter((t) => t !== timer)
  }

  pendingTimers(): ReadonlyArray<Timer> {
    return this.timers
  }

  /** Starts a process at once (as a fork with `startImmediately`). */
  spawn<A>(gen: Proc<A>): Task {
    const task = new Task(gen as Proc<unknown>, this.strand(this.current.clock))
    this.step(task, undefined)
    return task
  }

  kill(task: Task | undefined): void {
    if (task === undefined || !task.alive) return
    task.alive = false
    this.cancel(task.timer)
    task.timer = undefined
    if (task.waiter !== undefined) {
      const { signal, resume } = task.waiter
      const index = signal.waiters.indexOf(resume)
      if (index >= 0) signal.waiters.splice(index, 1)
      task.waiter = undefined
    }
  }

  /** Resumes `task` with `input`; it learns what the strand resuming it knows. */
  private step(task: Task, input: unknown): void {
    const known = this.current.clock
    this.within(task.strand, () => {
      this.learn(known)
      this.run(task, input)
    })
  }

  private run(task: Task, input: unknown): void {
    let value = input
    while (task.alive) {
      const next = task.gen.next(value)
      if (next.done) {
        task.alive = false
        task.done.resolve(this, next.value)
        return
      }
      const wait = next.value
      if (wait._tag === "Sleep") {
        if (wait.ms <= 0) {
          value = undefined
          continue
        }
        task.timer = this.timer(wait.ms, wait.label, () => {
          task.timer = undefined
          this.step(task, undefined)
        })
        return
      }
      if (wait.signal.done) {
        this.learn(wait.signal.clock)
        value = wait._tag === "Await" ? wait.signal.value : true
        continue
      }
      const resume = (v: unknown) => {
        if (!task.alive) return
        task.waiter = undefined
        if (task.timer !== undefined) {
          this.cancel(task.timer)
          task.timer = undefined
        }
        this.step(task, wait._tag === "Await" ? v : true)
      }
      task.waiter = { signal: wait.signal, resume }
      wait.signal.waiters.push(resume)
      if (wait._tag === "AwaitFor") {
        task.timer = this.timer(wait.ms, wait.label, () => {
          task.timer = undefined
          const index = wait.signal.waiters.indexOf(resume)
          if (index >= 0) wait.signal.waiters.splice(index, 1)
          task.waiter = undefined
          this.step(task, false)
        })
      }
      return
    }
  }

  /** Moves the clock `ms` forward, firing due timers one at a time, each cascade to quiescence. */
  advance(ms: number): void {
    const target = this.now + ms
    this.drain()
    while (true) {
      let next: Timer | undefined
      for (const timer of this.timers) {
        if (timer.due <= target && (next === undefined || timer.due < next.due || (timer.due === next.due && timer.seq < next.seq))) {
          next = timer
        }
      }
      if (next === undefined) break
      const first = next
      const tied = this.timers.find((t) => t !== first && t.due === first.due && !ordered(first, t))
      if (tied !== undefined) this.undecided ??= `${first.label} and ${tied.label} timers both due at ${first.due}ms`
      this.timers = this.timers.filter((t) => t !== next)
      this.now = Math.max(this.now, next.due)
      this.segment++
      this.within(this.strand(), next.fire)
      this.drain()
    }
    this.now = target
  }
}

/** Whether the order of two timers due at once is defined: registered in different cascades, or one by a strand that knew of the other. */
const ordered = (a: Timer, b: Timer): boolean =>
  a.mark === undefined || b.mark === undefined || a.mark.segment !== b.mark.segment || happensBefore(a.mark, b.mark) ||
  happensBefore(b.mark, a.mark)

export const sleep = (ms: number, label: string): Wait => ({ _tag: "Sleep", ms, label })
export const wait = <A>(signal: Signal<A>): Wait => ({ _tag: "Await", signal })
export const waitFor = (signal: Signal<any>, ms: number, label: string): Wait => ({ _tag: "AwaitFor", signal, ms, label })
