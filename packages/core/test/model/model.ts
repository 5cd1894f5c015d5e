/**
 * A pure reference model of Arbor's supervision semantics, written from
 * ARCHITECTURE.md and docs/ (concepts, restarts, shutdown, administration,
 * pools, liveness), not from the implementation: every system and every pool
 * is an actor with a mailbox that handles one event at a time; workers are
 * passive state machines whose every start, settle and exit is written to a
 * journal, the same journal the real test workers write.
 *
 * Time is virtual (see `kernel.ts`): nothing takes time except waiting for a
 * settle budget, a backoff delay, a startup that takes time, a start timeout
 * or a liveness deadline, exactly as under `TestClock`.
 */
import type { Clock, Mark, Proc } from "./kernel.ts"
import type { Task } from "./kernel.ts"
import { Kernel, Signal, wait, waitFor } from "./kernel.ts"
import type { Timer } from "./kernel.ts"
import type { BackoffSpec, ChildSpec, ExitKind, Policy, PoolSpec, SystemSpec, WorkerSpec } from "./spec.ts"

export type ErrorTag = "StartupFailed" | "StartupTimeout" | "TooManyRestarts" | "BackoffEnded"
export interface ModelError {
  readonly tag: ErrorTag
  readonly path: string
}
export interface ModelExit {
  readonly kind: ExitKind
  readonly error?: ModelError
}
export type State = "starting" | "running" | "settling" | "restarting" | "stopped"
type Started = { readonly ok: true } | { readonly ok: false; readonly exit: ModelExit }

/** A node as the tree shows it; `children: "skip"` where the model makes no claim. */
export interface NodeView {
  readonly path: string
  readonly state: State
  readonly restarts: number
  /** A pool's counts. */
  readonly counts?: { readonly children: number; readonly running: number; readonly restarting: number; readonly waiting: number }
  readonly children?: ReadonlyArray<NodeView> | "skip"
}

const normal: ModelExit = { kind: "normal" }
const interrupted: ModelExit = { kind: "interrupted" }

/** Which exits a policy answers with a restart (docs/restarts.md, first table). */
export const restartsAfter = (policy: Policy, kind: ExitKind): boolean =>
  policy === "permanent" ? true : policy === "transient" ? kind !== "normal" : false

/** One incarnation of a child: a worker's main loop, or a subsystem's or pool's supervisor. */
class Host {
  readonly done = new Signal<ModelExit>()
  /** Which incarnation of its child it hosts. */
  readonly incarnation: number
  readonly started = new Signal<Started>()
  sup: Sup | undefined
  pool: PoolSup | undefined
  /** A worker incarnation's name in the fiber registry (`path#n`) once it runs. */
  id: string | undefined
  /** A worker still in a startup that takes time. */
  starting = false
  /** Its startup's and liveness deadline's timers: they end with it. */
  readonly timers = new Set<Timer>()
  lastHeartbeat = 0
  constructor(incarnation: number) {
    this.incarnation = incarnation
  }
}

/** A pool's child: a worker whose startup (`spawn`) or task (`run`) the pool runs. */
interface PooledSpec extends WorkerSpec {
  readonly task: boolean
}

/** The state of one backoff schedule: it starts over after `within` without a restart. */
interface BackoffState {
  index: number
  lastRestart: number
}

/** The restart limits of a system or a pool: the sliding intensity window, and backoff delays. */
class Limits {
  private window: Array<number> = []
  private readonly spec: { readonly maxRestarts: number; readonly within: number; readonly backoff: BackoffSpec | undefined }
  constructor(spec: { readonly maxRestarts: number; readonly within: number; readonly backoff: BackoffSpec | undefined }) {
    this.spec = spec
  }

  /** The intensity window slides: a restart counts for `within` after it happened, one made exactly `within` ago no longer. */
  tooMany(now: number): boolean {
    this.window = this.window.filter((time) => time > now - this.spec.within)
    this.window.push(now)
    return this.window.length > this.spec.maxRestarts
  }

  /** The next backoff delay of `state`, or `undefined` once the schedule has ended. */
  nextDelay(now: number, state: BackoffState): number | undefined {
    const backoff = this.spec.backoff
    if (backoff === undefined) return 0
    if (now - state.lastRestart >= this.spec.within) state.index = 0
    state.lastRestart = now
    if (backoff.times !== undefined && state.index >= backoff.times) return undefined
    const delay = backoff.kind === "spaced" ? backoff.base : backoff.base * 2 ** state.index
    state.index++
    return delay
  }
}

const freshBackoff = (): BackoffState => ({ index: 0, lastRestart: Number.NEGATIVE_INFINITY })

class Rec {
  state: State = "stopped"
  incarnation = 0
  finished = false
  terminated = false
  stopping = false
  restarts = 0
  restartToken = 0
  host: Host | undefined
  /** A pool child's own backoff, made at its first restart. */
  backoff: BackoffState | undefined
  readonly spec: ChildSpec | PooledSpec
  readonly path: string
  /** The pool it belongs to, if it is a pool's child. */
  readonly pool: PoolSup | undefined
  constructor(spec: ChildSpec | PooledSpec, path: string, pool?: PoolSup) {
    this.spec = spec
    this.path = path
    this.pool = pool
  }
  get task(): boolean {
    return "task" in this.spec && this.spec.task
  }
  get known(): boolean {
    return !(this.finished && this.spec.policy === "temporary")
  }
}

type Reply = (result: string) => undefined

type Event =
  | { readonly _tag: "Settle" }
  | { readonly _tag: "Declared"; readonly generation: number; readonly ok: boolean }
  | { readonly _tag: "Exited"; readonly rec: Rec; readonly incarnation: number; readonly exit: ModelExit }
  | { readonly _tag: "Resume"; readonly token: number }
  | { readonly _tag: "ResumeChild"; readonly rec: Rec; readonly token: number }
  | { readonly _tag: "Relaunched"; readonly rec: Rec; readonly incarnation: number; readonly started: Started; readonly reply: Reply | undefined }
  | { readonly _tag: "Call"; readonly run: () => Proc<ModelExit | undefined> }

type PoolEvent =
  | { readonly _tag: "Settle" }
  | { readonly _tag: "Exited"; readonly rec: Rec; readonly incarnation: number; readonly exit: ModelExit }
  | { readonly _tag: "Resume"; readonly rec: Rec; readonly token: number }
  | { readonly _tag: "Relaunched"; readonly rec: Rec; readonly incarnation: number; readonly started: Started }

/** A system or a pool, as administration reaches it. */
type Supervising = Sup | PoolSup

/** Runs a process that must not wait for time (a forced stop): it may only await what is already done. */
const runNow = <A>(proc: Proc<A>): A => {
  let next = proc.next()
  while (!next.done) {
    const w = next.value
    if (w._tag === "Sleep" || !w.signal.done) throw new Error("model: a forced stop had to wait")
    next = proc.next(w._tag === "Await" ? w.signal.value : true)
  }
  return next.value
}

/**
 * A sequence the test compares with Arbor's: entries, each with where it
 * stands in the causal order (see `kernel.ts`), so that entries of strands
 * that do not know of each other may come in either order.
 */
export class Ledger {
  readonly entries: Array<string> = []
  readonly marks: Array<Mark> = []
  private readonly kernel: Kernel
  constructor(kernel: Kernel) {
    this.kernel = kernel
  }

  /** Writes `entry`, as the strand running now. */
  write(entry: string): void {
    this.entries.push(entry)
    this.marks.push(this.kernel.mark())
  }
}

export class Model {
  readonly kernel = new Kernel()
  /** Every start, settle and exit of a worker, and every run of a system's `start`. */
  readonly journal = new Ledger(this.kernel)
  /** The answers to commands. */
  readonly results = new Ledger(this.kernel)
  /** Each system's or pool's escalation: `path error`. */
  readonly escalations = new Ledger(this.kernel)
  /** Each pool shutdown's report: `path stopped forced`. */
  readonly poolReports = new Ledger(this.kernel)
  /** Each pool's handle as its system's latest declaration handed it out, by path. */
  readonly poolHandles = new Map<string, PoolSup>()
  /** Lines logged at Warn about an abnormal exit, by path. */
  readonly abnormal = new Map<string, number>()
  /** Lines logged at Error about a worker's failed startup, by path. */
  readonly startFailures = new Map<string, number>()
  readonly restartCounts = new Map<string, number>()
  /** How many children were taken for hung, startups timed out, and startups suspended: for the run's statistics. */
  hung = 0
  timedOut = 0
  suspended = 0
  readonly escalationCounts = new Map<string, number>()
  /** Worker incarnations whose scope is still open. */
  readonly live = new Set<string>()
  readonly ignoring = new Set<string>()
  readonly failNext = new Set<string>()
  private readonly starts = new Map<string, number>()

  toplevelState: State = "stopped"
  outcome: ModelExit | undefined
  stoppedAt: number | undefined
  root: Sup | undefined
  readonly spec: SystemSpec

  constructor(spec: SystemSpec) {
    this.spec = spec
  }

  /** Writes `entry` to the journal, as the strand running now. */
  write(entry: string): void {
    this.journal.write(entry)
  }

  /** Records an answer to a command, as the strand running now. */
  answer(result: string): void {
    this.results.write(result)
  }

  bump(map: Map<string, number>, path: string): void {
    map.set(path, (map.get(path) ?? 0) + 1)
  }

  nextIncarnation(path: string): string {
    const n = (this.starts.get(path) ?? 0) + 1
    this.starts.set(path, n)
    return `${path}#${n}`
  }

  /** Something waits for a settle budget: a supervisor is busy, so the driver only moves the clock. */
  get blocked(): boolean {
    return this.kernel.pendingTimers().some((timer) => timer.label === "budget")
  }

  get running(): boolean {
    return this.root !== undefined && this.root.alive
  }

  // --- what the toplevel does ----------------------------------------------------------------

  start(): void {
    this.toplevelState = "starting"
    const root = new Sup(this, this.spec, "app", () => {}, (exit) => {
      this.toplevelState = "stopped"
      this.outcome = exit
      this.stoppedAt = this.kernel.now
    })
    this.root = root
    root.stable.waiters.push(() => {
      if (this.toplevelState === "starting") this.toplevelState = "running"
    })
    root.start()
  }

  signal(): void {
    if (this.root === undefined) return
    if (this.toplevelState !== "stopped") this.toplevelState = "settling"
    this.root.requestSettle()
  }

  /** The running system or pool at `path`, as administration finds it. */
  supervising(path: string): Supervising | undefined {
    const [first, ...rest] = path.split("/")
    let node: Supervising | undefined = first === "app" ? this.root : undefined
    for (const name of rest) {
      if (node === undefined) break
      const rec = node.find(name)
      node = rec !== undefined && rec.state !== "stopped" ? rec.host?.sup ?? rec.host?.pool : undefined
    }
    return node !== undefined && node.alive ? node : undefined
  }

  private parentOf(path: string): [Supervising, string] | undefined {
    const at = path.lastIndexOf("/")
    const sup = this.supervising(path.slice(0, at))
    return sup === undefined ? undefined : [sup, path.slice(at + 1)]
  }

  /** The record of a running worker at `path`, if the tree has one. */
  runningWorker(path: string): Rec | undefined {
    const found = this.parentOf(path)
    const rec = found?.[0].find(found[1])
    return rec !== undefined && rec.spec.kind === "worker" && rec.state === "running" && rec.host?.done.done === false ? rec : undefined
  }

  /**
   * A worker ends its main loop by its own hand (or is interrupted from outside), if its main loop still
   * runs: also while it is asked to settle, which the driver could not know when it chose the command (a
   * timer due at the same instant may have come first).
   */
  crashWorker(path: string, kind: ExitKind): void {
    const rec = this.mainLoopOf(path)
    if (rec !== undefined) this.workerExit(rec, rec.host!, kind, kind)
  }

  /** The record of the worker at `path` whose main loop runs: running, or asked to settle. */
  private mainLoopOf(path: string): Rec | undefined {
    const found = this.parentOf(path)
    const rec = found?.[0].find(found[1])
    const host = rec?.host
    return rec?.spec.kind === "worker" && host?.id !== undefined && !host.done.done ? rec : undefined
  }

  exitChild(path: string, kind: ExitKind): string {
    const found = this.parentOf(path)
    const rec = found?.[0].find(found[1])
    if (rec === undefined || rec.state !== "running") return "NotFound"
    const host = rec.host!
    if (rec.spec.kind === "worker") {
      // A main loop that has just ended, its exit not yet handled, no longer runs.
      if (host.done.done) return "NotFound"
      this.workerExit(rec, host, "interrupted", kind)
    } else {
      ;(host.sup ?? host.pool)!.interrupt({ kind })
    }
    return "ok"
  }

  /** A worker calls `Lifecycle.feed`, from its main loop. */
  feed(path: string): void {
    const host = this.mainLoopOf(path)?.host
    if (host !== undefined) host.lastHeartbeat = this.kernel.now
  }

  /** The paths of every pool's children now, pool by pool, in start order. */
  poolChildren(): Array<string> {
    const out: Array<string> = []
    const walk = (sup: Sup) => {
      for (const rec of sup.children) {
        if (rec.state === "stopped") continue
        if (rec.host?.sup !== undefined) walk(rec.host.sup)
        if (rec.host?.pool?.alive === true) out.push(...[...rec.host.pool.records.values()].map((child) => child.path))
      }
    }
    if (this.root?.alive === true) walk(this.root)
    return out
  }

  /** A pool's `spawn` or `run` through the handle its system's latest declaration handed out, on the caller's strand. */
  spawn(poolPath: string, body: { readonly task: boolean; readonly startMillis: number }, name: string | undefined): void {
    const what = `${body.task ? "run" : "spawn"} ${poolPath}`
    this.poolHandles.get(poolPath)?.spawn(body, name, (result) => this.answer(`${what}: ${result}`))
  }

  /** Posts an administration request; its answer lands in `results` when given. */
  call(what: "terminate" | "restart", path: string): void {
    const answer = (result: string): undefined => {
      this.answer(`${what} ${path}: ${result}`)
      return undefined
    }
    const found = this.parentOf(path)
    if (found === undefined) {
      answer("NotFound")
      return
    }
    const [sup, name] = found
    if (sup instanceof PoolSup) {
      if (what === "terminate") sup.terminateChild(name, answer)
      else answer(sup.find(name) === undefined ? "NotFound" : "Running")
      return
    }
    sup.call(answer, (reply) => what === "terminate" ? sup.terminateChild(name, reply) : sup.restartChild(name, reply))
  }

  // --- workers --------------------------------------------------------------------------------

  /**
   * Starts a new incarnation of `rec` and hands back its host, whose `started` resolves once its startup has
   * ended (at once, unless a worker's startup takes time or a subsystem's children do).
   */
  launch(rec: Rec): Host {
    if (rec.incarnation > 0) {
      rec.restarts++
      // A pool's children are counted under the pool's path.
      this.bump(this.restartCounts, rec.pool?.path ?? rec.path)
    }
    rec.incarnation++
    rec.state = "starting"
    rec.stopping = false
    const host = new Host(rec.incarnation)
    rec.host = host
    const spec = rec.spec
    if (spec.kind === "worker") {
      this.startWorker(rec, host, spec)
    } else if (spec.kind === "pool") {
      const pool = new PoolSup(this, spec, rec.path, (exit) => this.finish(rec, host, exit))
      host.pool = pool
      pool.start()
      rec.state = "running"
      host.started.resolve(this.kernel, { ok: true })
    } else {
      // A subsystem's startup returns once it runs, or once it has ended (normally, it counts as started: its
      // end is then handled as any exit).
      const started = (result: Started) => {
        if (host.started.done) return
        // Running before whoever waits hears of it: the declaration resumes at once.
        if (result.ok && rec.host === host && rec.state === "starting") rec.state = "running"
        host.started.resolve(this.kernel, result)
      }
      const sup = new Sup(this, spec, rec.path, started, (exit) => this.finish(rec, host, exit))
      host.sup = sup
      sup.stable.waiters.push(() => started({ ok: true }))
      sup.start()
    }
    return host
  }

  /**
   * A worker's startup: journalled, failing if told to, taking `startMillis` (bounded by its `startTimeout`),
   * then running its main loop under its liveness deadline. A pool's task has no startup: it runs at once.
   */
  private startWorker(rec: Rec, host: Host, spec: WorkerSpec | PooledSpec): void {
    const id = this.nextIncarnation(rec.path)
    this.write(`start ${rec.path}`)
    if (rec.task) return this.runs(rec, host, id, spec)
    if (this.failNext.delete(rec.path)) {
      this.write(`startfail ${rec.path}`)
      return this.startFailed(rec, host, { kind: "failure", error: { tag: "StartupFailed", path: rec.path } })
    }
    if (spec.startMillis === 0) return this.runs(rec, host, id, spec)
    this.suspended++
    host.starting = true
    this.hostTimer(host, spec.startMillis, "startup", () => this.runs(rec, host, id, spec))
    if (spec.startTimeout !== undefined) {
      this.hostTimer(host, spec.startTimeout, "startTimeout", () => {
        this.timedOut++
        this.startFailed(rec, host, { kind: "failure", error: { tag: "StartupTimeout", path: rec.path } })
      })
    }
  }

  /** A timer that ends with the host (its startup's, its liveness deadline's). */
  private hostTimer(host: Host, ms: number, label: string, fire: () => void): void {
    const timer = this.kernel.timer(ms, label, () => {
      host.timers.delete(timer)
      fire()
    })
    host.timers.add(timer)
  }

  private endTimers(host: Host): void {
    for (const timer of host.timers) this.kernel.cancel(timer)
    host.timers.clear()
  }

  /**
   * The startup returned: the worker runs, its liveness deadline counting from now. Whoever waits for a
   * startup that suspended hears of its end before the deadline's timer starts; one that did not suspend
   * was not waited for yet, and is read once the timer has started.
   */
  private runs(rec: Rec, host: Host, id: string, spec: WorkerSpec | PooledSpec): void {
    const suspended = host.starting
    this.endTimers(host)
    host.starting = false
    host.id = id
    this.live.add(id)
    if (rec.state === "starting" || rec.task) rec.state = "running"
    host.lastHeartbeat = this.kernel.now
    if (suspended) host.started.resolve(this.kernel, { ok: true })
    if (spec.deadline !== undefined) this.watch(rec, host, spec.deadline)
    if (!suspended) host.started.resolve(this.kernel, { ok: true })
  }

  /** Checks the liveness deadline when it is due, as Arbor's timer does: no heartbeat within it, and the worker is taken for hung. */
  private watch(rec: Rec, host: Host, deadline: number): void {
    const late = this.kernel.now - host.lastHeartbeat
    if (late >= deadline) {
      this.hung++
      return this.workerExit(rec, host, "interrupted", "failure")
    }
    this.hostTimer(host, deadline - late, "liveness", () => this.watch(rec, host, deadline))
  }

  /** A startup that failed (or timed out): logged at Error for a worker, and its host ends. */
  private startFailed(rec: Rec, host: Host, exit: ModelExit): void {
    this.endTimers(host)
    host.starting = false
    host.started.resolve(this.kernel, { ok: false, exit })
    this.bump(this.startFailures, rec.path)
    this.finish(rec, host, exit)
  }

  /** The worker's main loop ends (journalled as `seen`); its supervisor sees `kind`. */
  workerExit(rec: Rec, host: Host, seen: ExitKind, kind: ExitKind): void {
    if (host.done.done) return
    this.write(`exit ${rec.path} ${seen}`)
    this.finish(rec, host, { kind })
  }

  settleWorker(rec: Rec, host: Host): void {
    this.write(`settle ${rec.path}`)
    if (!this.ignoring.has(rec.path)) this.workerExit(rec, host, "normal", "normal")
  }

  /** A host ended: its supervisor hears of it through its mailbox (as the host fiber's observer posts it). */
  finish(rec: Rec, host: Host, exit: ModelExit): void {
    this.endTimers(host)
    if (!host.done.resolve(this.kernel, exit)) return
    owner.get(rec)?.post({ _tag: "Exited", rec, incarnation: host.incarnation, exit })
  }

  /**
   * Stops a child with settle-then-interrupt; resumes with whether it had to be interrupted. `"brutal"`, a
   * forced stop and a worker still in its startup are interrupted at once.
   */
  *stop(rec: Rec, mode: "graceful" | "force"): Proc<boolean> {
    const host = rec.host
    if (rec.state === "stopped" || host === undefined) return false
    if (rec.state === "settling") {
      if (mode === "force") this.interruptHost(rec, host)
      yield wait(host.done)
      return false
    }
    const budget = rec.spec.shutdown
    const wasRunning = rec.state === "running"
    const alive = !host.done.done
    const atOnce = mode === "force" || budget === "brutal" || (rec.state === "starting" && rec.spec.kind === "worker")
    rec.stopping = true
    rec.state = "settling"
    let forced = false
    if (alive && !atOnce) {
      if (rec.spec.kind === "worker") this.settleWorker(rec, host)
      else (host.sup ?? host.pool)!.requestSettle()
      const settled: boolean = budget === "infinity" ? (yield wait(host.done), true) : yield waitFor(host.done, budget as number, "budget")
      if (!settled) {
        forced = true
        this.interruptHost(rec, host)
      }
    } else if (alive) {
      forced = true
      this.interruptHost(rec, host)
    }
    yield wait(host.done)
    this.closeScope(host)
    rec.state = "stopped"
    if (!alive && !wasRunning) return forced
    const kind = host.done.value.kind
    if (wasRunning && (kind === "failure" || kind === "defect")) this.bump(this.abnormal, rec.path)
    return forced
  }

  /**
   * Interrupts a child's host: a worker whose main loop runs journals its interruption; one still in its
   * startup (or whose startup has just failed) ends without a word.
   */
  private interruptHost(rec: Rec, host: Host): void {
    if (rec.spec.kind !== "worker") return (host.sup ?? host.pool)!.interrupt()
    if (host.id !== undefined) return this.workerExit(rec, host, "interrupted", "interrupted")
    this.endTimers(host)
    host.starting = false
    host.started.resolve(this.kernel, { ok: false, exit: interrupted })
    this.finish(rec, host, interrupted)
  }

  /**
   * A running child's main loop ended: it is stopped, an abnormal exit logged. Whether its policy restarts
   * it, or `undefined` when the exit is not its supervisor's to handle (stale, or the child is being stopped).
   */
  ended(rec: Rec, incarnation: number, exit: ModelExit): boolean | undefined {
    if (incarnation !== rec.incarnation || rec.stopping || rec.state !== "running") return undefined
    rec.state = "stopped"
    this.closeScope(rec.host!)
    if (exit.kind !== "normal") this.bump(this.abnormal, rec.path)
    return restartsAfter(rec.spec.policy, exit.kind)
  }

  closeScope(host: Host): void {
    if (host.id !== undefined) this.live.delete(host.id)
  }

  // --- what the tests compare ------------------------------------------------------------------

  tree(): NodeView {
    const root = this.root
    const state = this.toplevelState === "running" && root?.restarting === true ? "restarting" : this.toplevelState
    const node: NodeView = { path: "app", state, restarts: 0 }
    return root === undefined || !root.alive ? node : { ...node, children: root.view() }
  }
}

/**
 * A supervisor's mailbox: events in the order they were posted, each with
 * what its sender knew, which its receiver learns when it takes it. A
 * receiver waiting for one is woken through the scheduler, as a fiber
 * waiting on a `Queue` is: after what posted the event is done.
 */
class Mailbox<E> {
  private readonly queue: Array<{ readonly event: E; readonly clock: Clock }> = []
  private waiting: Signal<void> | undefined
  private readonly kernel: Kernel
  constructor(kernel: Kernel) {
    this.kernel = kernel
  }

  post(event: E): void {
    this.queue.push({ event, clock: new Map(this.kernel.current.clock) })
    const waiting = this.waiting
    if (waiting === undefined) return
    this.waiting = undefined
    this.kernel.defer(() => waiting.resolve(this.kernel, undefined))
  }

  *take(): Proc<E> {
    while (this.queue.length === 0) {
      this.waiting = new Signal<void>()
      yield wait(this.waiting)
    }
    const { event, clock } = this.queue.shift()!
    this.kernel.learn(clock)
    return event
  }
}

/**
 * What a system and a pool share: an actor handling the events of its
 * mailbox one at a time until one decides its end; its helpers and timers
 * end with it, and so do its children, interrupted at once.
 */
abstract class Actor<E extends { readonly _tag: string }> {
  alive = true
  protected settleRequested = false
  private readonly mailbox: Mailbox<E>
  private main: Task | undefined
  protected readonly helpers = new Set<Task>()
  protected readonly timers = new Set<Timer>()
  protected readonly limits: Limits
  protected readonly model: Model
  readonly path: string
  private readonly ended: (exit: ModelExit) => void

  constructor(model: Model, path: string, limits: Limits, ended: (exit: ModelExit) => void) {
    this.model = model
    this.path = path
    this.limits = limits
    this.ended = ended
    this.mailbox = new Mailbox(model.kernel)
  }

  protected get kernel(): Kernel {
    return this.model.kernel
  }

  protected abstract handle(event: E): Proc<ModelExit | undefined>

  /** Interrupts every child at once, as the actor ends. */
  protected abstract stopAll(): void

  /** What else the actor's end tells, before its host hears of it. */
  protected abstract ending(outcome: ModelExit): void

  /** Runs `first`, then handles the events, in the order they came, until one decides the end. */
  protected run(first: () => void): void {
    const self = this
    this.main = this.kernel.spawn((function*(): Proc {
      first()
      while (true) {
        const outcome = yield* self.handle(yield* self.mailbox.take())
        if (outcome !== undefined) return self.end(outcome)
      }
    })())
  }

  post(event: E): void {
    if (this.alive) this.mailbox.post(event)
  }

  requestSettle(): void {
    if (this.settleRequested) return
    this.settleRequested = true
    this.post({ _tag: "Settle" } as unknown as E)
  }

  /** Interrupted (from outside, or by its parent's forced stop): every child is interrupted at once. */
  interrupt(injected?: ModelExit): void {
    if (!this.alive) return
    this.kernel.kill(this.main)
    this.end(injected ?? interrupted)
  }

  private end(outcome: ModelExit): void {
    for (const task of this.helpers) this.kernel.kill(task)
    for (const timer of this.timers) this.kernel.cancel(timer)
    this.stopAll()
    this.alive = false
    this.ending(outcome)
    this.ended(outcome)
  }
}

/** Which supervisor owns a record (records never move). */
const owner = new WeakMap<Rec, Sup | PoolSup>()

export class Sup extends Actor<Event> {
  /**
   * Every child declared so far, in declaration order: a replay lists them all from its start
   * (docs/administration.md), and the model's declarations never change.
   */
  children: Array<Rec> = []
  /** How many children the current generation has declared: the others wait for the replay. */
  private declaredCount = 0
  private readonly byName = new Map<string, Rec>()
  private generation = 0
  private firstStart = true
  private declaration: Task | undefined
  private abandoned: ModelError | undefined
  private groupFrom = 0
  private pending: { readonly token: number; readonly from: number } | undefined
  private tokens = 0
  private readonly backoff = freshBackoff()
  private stoppingGroup = false
  readonly stable = new Signal<void>()
  private readonly replies = new Set<Reply>()

  private readonly spec: SystemSpec
  private readonly started: (result: Started) => void

  constructor(model: Model, spec: SystemSpec, path: string, started: (result: Started) => void, ended: (exit: ModelExit) => void) {
    super(model, path, new Limits(spec), ended)
    this.spec = spec
    this.started = started
  }

  /** Restarting its own children: from the restart decision (stopping the group) until the replay has declared them all. */
  get restarting(): boolean {
    return this.pending !== undefined || this.stoppingGroup || (!this.firstStart && this.declaration !== undefined)
  }

  find(name: string): Rec | undefined {
    const rec = this.byName.get(name)
    return rec !== undefined && this.children.includes(rec) && rec.known ? rec : undefined
  }

  view(): ReadonlyArray<NodeView> {
    return this.children.filter((rec) => rec.known).map((rec) => {
      const sup = rec.host?.sup
      const state = rec.state === "running" && sup?.restarting === true ? "restarting" : rec.state
      const node: NodeView = { path: rec.path, state, restarts: rec.restarts }
      const pool = rec.host?.pool
      if (pool !== undefined && rec.state !== "stopped") return { ...node, ...pool.view() }
      if (rec.spec.kind !== "system" || rec.state === "stopped" || sup === undefined) return node
      // A subsystem waiting for its own backoff delay has no supervisor of its own yet: no claim about its children.
      return { ...node, children: rec.state === "restarting" ? "skip" : sup.view() }
    })
  }

  start(): void {
    this.run(() => this.startGeneration())
  }

  call(reply: Reply, run: (reply: Reply) => Proc<ModelExit | undefined>): void {
    if (!this.alive) {
      reply("NotFound")
      return
    }
    this.replies.add(reply)
    const answer: Reply = (result) => {
      if (this.replies.delete(reply)) reply(result)
      return undefined
    }
    this.post({ _tag: "Call", run: () => run(answer) })
  }

  protected stopAll(): void {
    this.kernel.kill(this.declaration)
    this.declaration = undefined
    runNow(this.stopFrom(0, "force"))
  }

  protected ending(outcome: ModelExit): void {
    for (const reply of [...this.replies]) {
      this.replies.delete(reply)
      reply("NotFound")
    }
    if (!this.stable.done) this.started(outcome.kind === "normal" ? { ok: true } : { ok: false, exit: outcome })
  }

  protected *handle(event: Event): Proc<ModelExit | undefined> {
    switch (event._tag) {
      case "Settle":
        yield* this.stopFrom(0, "graceful", true)
        return normal
      case "Declared":
        return yield* this.declared(event.generation)
      case "Exited":
        return yield* this.exited(event.rec, event.incarnation, event.exit)
      case "Resume": {
        if (this.pending?.token !== event.token) return undefined
        const { from } = this.pending
        this.pending = undefined
        yield* this.replay(from)
        return undefined
      }
      case "ResumeChild":
        if (event.rec.state !== "restarting" || event.rec.restartToken !== event.token) return undefined
        event.rec.state = "stopped"
        this.relaunch(event.rec, undefined)
        return undefined
      case "Relaunched":
        return yield* this.relaunched(event.rec, event.incarnation, event.started, event.reply)
      case "Call":
        return yield* event.run()
    }
  }

  // --- starting children ------------------------------------------------------------------------

  private startGeneration(): void {
    const generation = ++this.generation
    this.declaredCount = 0
    this.abandoned = undefined
    const self = this
    this.declaration = this.kernel.spawn((function*(): Proc {
      self.model.write(`declare ${self.path}`)
      for (const spec of self.spec.children) {
        if (generation !== self.generation || self.abandoned !== undefined) break
        let rec = self.byName.get(spec.name)
        if (rec === undefined) {
          rec = new Rec(spec, `${self.path}/${spec.name}`)
          owner.set(rec, self)
          self.byName.set(spec.name, rec)
        }
        if (!self.children.includes(rec)) self.children.push(rec)
        self.declaredCount++
        // rest_for_one: a child before the group that still runs is reused, not restarted.
        if (rec.state === "running" && !rec.stopping) {
          self.handOut(rec)
          continue
        }
        if (rec.finished) continue
        rec.terminated = false
        const started: Started = yield* self.launch(rec)
        if (!started.ok) {
          // Stopped by terminateChild while starting: the declaration cannot go on without it.
          if (!rec.stopping || rec.terminated) self.abandoned ??= startupError(rec, started.exit)
          break
        }
        self.handOut(rec)
      }
      if (generation === self.generation) self.post({ _tag: "Declared", generation, ok: self.abandoned === undefined })
    })())
  }

  /** A kept child still starting (a restartChild in flight) is stopped first: the replay starts it afresh. */
  private *replay(from: number): Proc {
    this.groupFrom = from
    const kept = this.children.slice(0, from)
    const starting = kept.filter((rec) => rec.state === "starting").reverse()
    if (starting.length > 0) {
      this.stoppingGroup = true
      for (const rec of starting) yield* this.model.stop(rec, "graceful")
      this.stoppingGroup = false
    }
    this.startGeneration()
  }

  /** Starts a new incarnation of `rec` and resumes once its startup ended. */
  private *launch(rec: Rec): Proc<Started> {
    return yield wait(this.model.launch(rec).started)
  }

  /** A declaration of a pool hands out its handle: the one `Spawn` commands use. */
  private handOut(rec: Rec): void {
    const pool = rec.host?.pool
    if (pool !== undefined) this.model.poolHandles.set(rec.path, pool)
  }

  private relaunch(rec: Rec, reply: Reply | undefined): void {
    const self = this
    const task = this.kernel.spawn((function*(): Proc {
      const incarnation = rec.incarnation + 1
      const started: Started = yield* self.launch(rec)
      self.post({ _tag: "Relaunched", rec, incarnation, started, reply })
    })())
    this.helpers.add(task)
  }

  private *relaunched(rec: Rec, incarnation: number, started: Started, reply: Reply | undefined): Proc<ModelExit | undefined> {
    if (incarnation !== rec.incarnation || rec.stopping) {
      reply?.("NotFound")
      return undefined
    }
    if (started.ok) {
      reply?.("ok")
      return undefined
    }
    yield* this.model.stop(rec, "force")
    const error = startupError(rec, started.exit)
    if (reply !== undefined) {
      reply(error.tag)
      return undefined
    }
    return yield* this.restart(rec)
  }

  private *declared(generation: number): Proc<ModelExit | undefined> {
    if (generation !== this.generation) return undefined
    this.declaration = undefined
    const error = this.abandoned
    if (error === undefined) {
      this.stable.resolve(this.kernel, undefined)
      return undefined
    }
    if (this.firstStart) return yield* this.giveUp(error)
    return yield* this.restart(undefined)
  }

  // --- exits and restarts -----------------------------------------------------------------------

  private *exited(rec: Rec, incarnation: number, exit: ModelExit): Proc<ModelExit | undefined> {
    const restart = this.model.ended(rec, incarnation, exit)
    if (restart === undefined) return undefined
    if (!restart) {
      rec.finished = true
      return rec.spec.significant ? yield* this.significantFinished(rec) : undefined
    }
    return yield* this.restart(rec)
  }

  private *significantFinished(rec: Rec): Proc<ModelExit | undefined> {
    const mode = this.spec.autoShutdown
    const othersRunning = this.children.some((c) => c !== rec && c.spec.significant && c.state !== "stopped")
    if (mode === "never" || (mode === "allSignificant" && othersRunning)) return undefined
    yield* this.stopFrom(0, "graceful", true)
    return normal
  }

  private *giveUp(error: ModelError): Proc<ModelExit> {
    this.model.escalations.write(`${this.path} ${error.tag}`)
    this.model.bump(this.model.escalationCounts, this.path)
    yield* this.stopFrom(0, "graceful", true)
    return { kind: "failure", error }
  }

  private *restart(rec: Rec | undefined): Proc<ModelExit | undefined> {
    if (this.limits.tooMany(this.kernel.now)) return yield* this.giveUp({ tag: "TooManyRestarts", path: this.path })
    const delay = this.limits.nextDelay(this.kernel.now, this.backoff)
    if (delay === undefined) return yield* this.giveUp({ tag: "BackoffEnded", path: this.path })
    const { strategy } = this.spec
    if (strategy === "one_for_one" && rec !== undefined) {
      if (delay === 0) {
        this.relaunch(rec, undefined)
        return undefined
      }
      rec.state = "restarting"
      const token = ++rec.restartToken
      this.after(delay, { _tag: "ResumeChild", rec, token })
      return undefined
    }
    this.firstStart = false
    const index = rec === undefined ? this.groupFrom : Math.max(0, this.children.indexOf(rec))
    const from = Math.min(strategy === "rest_for_one" ? index : 0, this.pending?.from ?? Number.POSITIVE_INFINITY)
    this.stoppingGroup = true
    yield* this.stopFrom(from, "graceful")
    this.stoppingGroup = false
    if (this.settleRequested) return undefined
    if (delay === 0) {
      this.pending = undefined
      yield* this.replay(from)
      return undefined
    }
    const token = ++this.tokens
    this.pending = { token, from }
    this.after(delay, { _tag: "Resume", token })
    return undefined
  }

  private after(delay: number, event: Event): void {
    const timer = this.kernel.timer(delay, "backoff", () => {
      this.timers.delete(timer)
      this.post(event)
    })
    this.timers.add(timer)
  }

  // --- stopping children ------------------------------------------------------------------------

  /**
   * Stops the children from `from` on, in reverse order, one at a time (after abandoning a
   * declaration in progress). A temporary child stopped this way is never started again.
   */
  private *stopFrom(from: number, mode: "graceful" | "force", all = false): Proc {
    if (all) this.pending = undefined
    if (this.declaration !== undefined) {
      this.kernel.kill(this.declaration)
      this.declaration = undefined
      this.generation++
    }
    for (const rec of this.children.slice(from).reverse()) {
      yield* this.model.stop(rec, mode)
      if (rec.spec.policy === "temporary") rec.finished = true
    }
  }

  // --- administration ---------------------------------------------------------------------------

  *terminateChild(name: string, reply: Reply): Proc<undefined> {
    const rec = this.find(name)
    if (rec === undefined) return reply("NotFound")
    rec.terminated = true
    yield* this.model.stop(rec, "graceful")
    if (rec.spec.policy === "temporary") rec.finished = true
    return reply("ok")
  }

  /** A child of a group waiting for its backoff delay, or not yet declared by the replay in progress: the replay starts it. */
  private waitsForReplay(rec: Rec): boolean {
    const index = this.children.indexOf(rec)
    return this.pending !== undefined ? index >= this.pending.from : this.declaration !== undefined && index >= this.declaredCount
  }

  *restartChild(name: string, reply: Reply): Proc<undefined> {
    const rec = this.find(name)
    if (rec === undefined) return reply("NotFound")
    if (rec.state !== "stopped" || this.waitsForReplay(rec)) return reply("Running")
    rec.terminated = false
    rec.finished = false
    this.relaunch(rec, reply)
    return undefined
  }
}

/** A subsystem's own error passes through; anything else is a `StartupFailed` of the child. */
const startupError = (rec: Rec, exit: ModelExit): ModelError =>
  rec.spec.kind === "system" && exit.error !== undefined ? exit.error : { tag: "StartupFailed", path: rec.path }

/**
 * A pool (docs/pools.md): children started while the tree runs, each
 * restarted on its own after its own backoff delay, under one intensity for
 * them all; `spawn` and a child's stop run on the caller's strand, exits and
 * backoff ends on the pool's own. It shuts down by stopping every child at
 * once, each under its budget, and reports how many it had to interrupt.
 */
export class PoolSup extends Actor<PoolEvent> {
  readonly records = new Map<string, Rec>()
  private nextId = 0
  private closed = false
  private reported = false
  private readonly spec: PoolSpec

  constructor(model: Model, spec: PoolSpec, path: string, ended: (exit: ModelExit) => void) {
    super(model, path, new Limits(spec), ended)
    this.spec = spec
  }

  find(name: string): Rec | undefined {
    return this.records.get(name)
  }

  view(): Pick<NodeView, "counts" | "children"> {
    const children = [...this.records.values()]
    return {
      counts: {
        children: children.length,
        running: children.filter((rec) => rec.state === "running").length,
        restarting: children.filter((rec) => rec.state === "restarting").length,
        // The model's callers never wait for a slot: a full pool refuses them at once.
        waiting: 0
      },
      children: children.slice(0, 100).map((rec) => ({ path: rec.path, state: rec.state, restarts: rec.restarts }))
    }
  }

  start(): void {
    this.run(() => {})
  }

  protected stopAll(): void {
    runNow(this.shutdown("force"))
  }

  protected ending(): void {}

  protected *handle(event: PoolEvent): Proc<ModelExit | undefined> {
    switch (event._tag) {
      case "Settle":
        yield* this.shutdown("graceful")
        return normal
      case "Exited":
        return yield* this.exited(event.rec, event.incarnation, event.exit)
      case "Resume":
        if (event.rec.state !== "restarting" || event.rec.restartToken !== event.token) return undefined
        event.rec.state = "stopped"
        this.relaunch(event.rec)
        return undefined
      case "Relaunched": {
        const { rec, started } = event
        if (event.incarnation !== rec.incarnation || rec.stopping || started.ok) return undefined
        yield* this.model.stop(rec, "force")
        return yield* this.restart(rec)
      }
    }
  }

  /** `spawn` (or `run`) on the caller's strand: resumes with its answer once the startup has ended. */
  spawn(body: { readonly task: boolean; readonly startMillis: number }, given: string | undefined, answer: (result: string) => void): void {
    if (this.closed) return answer("PoolClosed")
    if (this.spec.maxChildren !== undefined && this.records.size >= this.spec.maxChildren) return answer("PoolFull")
    if (given !== undefined && this.records.has(given)) return answer("DuplicateChild")
    const name = given ?? this.freshName()
    const { child } = this.spec
    const spec: PooledSpec = {
      kind: "worker",
      name,
      policy: child.policy,
      shutdown: child.shutdown,
      significant: false,
      startMillis: body.task ? 0 : body.startMillis,
      startTimeout: child.startTimeout,
      deadline: child.deadline,
      task: body.task
    }
    const rec = new Rec(spec, `${this.path}/${name}`, this)
    owner.set(rec, this)
    this.records.set(name, rec)
    const host = this.model.launch(rec)
    const self = this
    // A child that fails to start is not restarted: the caller hears about it.
    this.kernel.spawn((function*(): Proc {
      const started: Started = yield wait(host.started)
      if (started.ok) return answer(`ok ${rec.path}`)
      yield* self.model.stop(rec, "force")
      self.remove(rec)
      answer(self.closed ? "PoolClosed" : "StartupFailed")
    })())
  }

  private freshName(): string {
    let name = String(++this.nextId)
    while (this.records.has(name)) name = String(++this.nextId)
    return name
  }

  private remove(rec: Rec): void {
    if (this.records.get(rec.spec.name) === rec) this.records.delete(rec.spec.name)
  }

  /** `terminateChild` of a pool's child: stopped on the caller's strand, and forgotten. */
  terminateChild(name: string, answer: (result: string) => void): void {
    const rec = this.records.get(name)
    if (rec === undefined) return answer("NotFound")
    const self = this
    this.kernel.spawn((function*(): Proc {
      yield* self.model.stop(rec, "graceful")
      self.remove(rec)
      answer("ok")
    })())
  }

  private *exited(rec: Rec, incarnation: number, exit: ModelExit): Proc<ModelExit | undefined> {
    const restart = this.model.ended(rec, incarnation, exit)
    if (restart === undefined) return undefined
    if (!restart) {
      this.remove(rec)
      return undefined
    }
    return yield* this.restart(rec)
  }

  /** Restarts one child after its own backoff delay, unless the pool has restarted too often: then it gives up. */
  private *restart(rec: Rec): Proc<ModelExit | undefined> {
    const now = this.kernel.now
    if (this.limits.tooMany(now)) return yield* this.giveUp(rec, { tag: "TooManyRestarts", path: this.path })
    const delay = this.limits.nextDelay(now, rec.backoff ??= freshBackoff())
    if (delay === undefined) return yield* this.giveUp(rec, { tag: "BackoffEnded", path: this.path })
    if (delay === 0) {
      this.relaunch(rec)
      return undefined
    }
    rec.state = "restarting"
    const token = ++rec.restartToken
    const timer = this.kernel.timer(delay, "backoff", () => {
      this.timers.delete(timer)
      this.post({ _tag: "Resume", rec, token })
    })
    this.timers.add(timer)
    return undefined
  }

  private *giveUp(rec: Rec, error: ModelError): Proc<ModelExit> {
    this.remove(rec)
    this.model.escalations.write(`${this.path} ${error.tag}`)
    this.model.bump(this.model.escalationCounts, this.path)
    yield* this.shutdown("graceful")
    return { kind: "failure", error }
  }

  private relaunch(rec: Rec): void {
    const self = this
    const task = this.kernel.spawn((function*(): Proc {
      const incarnation = rec.incarnation + 1
      const started: Started = yield wait(self.model.launch(rec).started)
      self.post({ _tag: "Relaunched", rec, incarnation, started })
    })())
    this.helpers.add(task)
  }

  /** Closes the pool, stops every child at once (each under its budget) and reports how many had to be interrupted. */
  private *shutdown(mode: "graceful" | "force"): Proc {
    this.closed = true
    const children = [...this.records.values()]
    if (children.length === 0 && this.reported) return
    let forced = 0
    const self = this
    const stops = children.map((rec) =>
      this.kernel.spawn((function*(): Proc {
        if (yield* self.model.stop(rec, mode)) forced++
        self.remove(rec)
      })())
    )
    for (const stop of stops) yield wait(stop.done)
    this.model.poolReports.write(`${this.path} ${children.length} ${forced}`)
    this.reported = true
  }
}
