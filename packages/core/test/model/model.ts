/**
 * A pure reference model of Arbor's supervision semantics, written from
 * ARCHITECTURE.md and docs/ (concepts, restarts, shutdown, administration),
 * not from the implementation: every system is an actor with a mailbox that
 * handles one event at a time; workers are passive state machines whose every
 * start, settle and exit is written to a journal, the same journal the real
 * test workers write.
 *
 * Time is virtual (see `kernel.ts`): nothing takes time except waiting for a
 * settle budget and waiting for a backoff delay, exactly as under `TestClock`.
 */
import type { Clock, Mark, Proc } from "./kernel.ts"
import { Kernel, Signal, wait, waitFor } from "./kernel.ts"
import type { ChildSpec, ExitKind, Policy, SystemSpec } from "./spec.ts"

export type ErrorTag = "StartupFailed" | "TooManyRestarts" | "BackoffEnded"
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
  readonly children?: ReadonlyArray<NodeView> | "skip"
}

const normal: ModelExit = { kind: "normal" }
const interrupted: ModelExit = { kind: "interrupted" }

/** Which exits a policy answers with a restart (docs/restarts.md, first table). */
export const restartsAfter = (policy: Policy, kind: ExitKind): boolean =>
  policy === "permanent" ? true : policy === "transient" ? kind !== "normal" : false

/** One incarnation of a child: a worker's main loop, or a subsystem's supervisor. */
class Host {
  readonly done = new Signal<ModelExit>()
  readonly started = new Signal<Started>()
  sup: Sup | undefined
  /** A worker incarnation's name in the fiber registry (`path#n`) once it runs. */
  id: string | undefined
}

class Rec {
  state: State = "stopped"
  incarnation = 0
  finished = false
  terminated = false
  stopping = false
  restarts = 0
  restartToken = 0
  host: Host | undefined
  readonly spec: ChildSpec
  readonly path: string
  constructor(spec: ChildSpec, path: string) {
    this.spec = spec
    this.path = path
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

export class Model {
  readonly kernel = new Kernel()
  readonly journal: Array<string> = []
  /** Where each journal entry stands in the causal order: entries that do not know of each other may swap. */
  readonly marks: Array<Mark> = []
  readonly escalations: Array<string> = []
  readonly results: Array<string> = []
  /** Lines logged at Warn about an abnormal exit, by path. */
  readonly abnormal = new Map<string, number>()
  /** Lines logged at Error about a worker's failed startup, by path. */
  readonly startFailures = new Map<string, number>()
  readonly restartCounts = new Map<string, number>()
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
    this.journal.push(entry)
    this.marks.push(this.kernel.mark())
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
    const host = new Host()
    this.toplevelState = "starting"
    const root = new Sup(this, this.spec, "app", host, (exit) => {
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

  /** The running system at `path`, as administration finds it. */
  supervising(path: string): Sup | undefined {
    const [first, ...rest] = path.split("/")
    let node: Sup | undefined = first === "app" ? this.root : undefined
    for (const name of rest) {
      if (node === undefined) break
      const rec = node.find(name)
      node = rec !== undefined && rec.state !== "stopped" ? rec.host?.sup : undefined
    }
    return node !== undefined && node.alive ? node : undefined
  }

  private parentOf(path: string): [Sup, string] | undefined {
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

  /** A worker ends its main loop by its own hand (or is interrupted from outside). */
  crashWorker(path: string, kind: ExitKind): void {
    const rec = this.runningWorker(path)
    if (rec === undefined) return
    this.workerExit(rec, rec.host!, kind, kind)
  }

  exitChild(path: string, kind: ExitKind): string {
    const found = this.parentOf(path)
    const rec = found?.[0].find(found[1])
    if (rec === undefined || rec.state !== "running") return "NotFound"
    const host = rec.host!
    if (rec.spec.kind === "worker") this.workerExit(rec, host, "interrupted", kind)
    else host.sup!.interrupt({ kind })
    return "ok"
  }

  /** Posts an administration request; its answer lands in `results` when given. */
  call(what: "terminate" | "restart", path: string): void {
    const answer = (result: string): undefined => {
      this.results.push(`${what} ${path}: ${result}`)
      return undefined
    }
    const found = this.parentOf(path)
    if (found === undefined) {
      answer("NotFound")
      return
    }
    const [sup, name] = found
    sup.call(answer, (reply) => what === "terminate" ? sup.terminateChild(name, reply) : sup.restartChild(name, reply))
  }

  // --- workers --------------------------------------------------------------------------------

  startWorker(rec: Rec, host: Host): void {
    const id = this.nextIncarnation(rec.path)
    this.write(`start ${rec.path}`)
    if (this.failNext.delete(rec.path)) {
      this.write(`startfail ${rec.path}`)
      const exit: ModelExit = { kind: "failure", error: { tag: "StartupFailed", path: rec.path } }
      host.started.resolve(this.kernel, { ok: false, exit })
      this.bump(this.startFailures, rec.path)
      this.finish(rec, host, exit)
      return
    }
    host.id = id
    this.live.add(id)
    if (rec.state === "starting") rec.state = "running"
    host.started.resolve(this.kernel, { ok: true })
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
    if (!host.done.resolve(this.kernel, exit)) return
    owner.get(rec)?.post({ _tag: "Exited", rec, incarnation: rec.incarnation, exit })
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

/** Which supervisor owns a record (records never move). */
const owner = new WeakMap<Rec, Sup>()

export class Sup {
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
  private declaration: ReturnType<Kernel["spawn"]> | undefined
  private abandoned: ModelError | undefined
  private groupFrom = 0
  private pending: { readonly token: number; readonly from: number } | undefined
  private tokens = 0
  private window: Array<number> = []
  private backoff: { index: number; lastRestart: number } | undefined
  private settleRequested = false
  private stoppingGroup = false
  alive = true
  readonly stable = new Signal<void>()
  /** Each event with what its sender knew. */
  private readonly mailbox: Array<{ readonly event: Event; readonly clock: Clock }> = []
  private waiting: Signal<void> | undefined
  private main: ReturnType<Kernel["spawn"]> | undefined
  private readonly helpers = new Set<ReturnType<Kernel["spawn"]>>()
  private readonly timers = new Set<ReturnType<Kernel["timer"]>>()
  private readonly replies = new Set<Reply>()

  private readonly model: Model
  private readonly spec: SystemSpec
  readonly path: string
  private readonly host: Host
  private readonly ended: (exit: ModelExit) => void

  constructor(model: Model, spec: SystemSpec, path: string, host: Host, ended: (exit: ModelExit) => void) {
    this.model = model
    this.spec = spec
    this.path = path
    this.host = host
    this.ended = ended
  }

  private get kernel(): Kernel {
    return this.model.kernel
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
      if (rec.spec.kind !== "system" || rec.state === "stopped" || sup === undefined) return node
      // A subsystem waiting for its own backoff delay has no supervisor of its own yet: no claim about its children.
      return { ...node, children: rec.state === "restarting" ? "skip" : sup.view() }
    })
  }

  start(): void {
    const self = this
    this.main = this.kernel.spawn((function*(): Proc {
      self.startGeneration()
      while (true) {
        const event = yield* self.take()
        const outcome = yield* self.handle(event)
        if (outcome !== undefined) return self.end(outcome)
      }
    })())
  }

  post(event: Event): void {
    if (!this.alive) return
    this.mailbox.push({ event, clock: new Map(this.kernel.current.clock) })
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.resolve(this.kernel, undefined)
  }

  private *take(): Proc<Event> {
    while (this.mailbox.length === 0) {
      this.waiting = new Signal<void>()
      yield wait(this.waiting)
    }
    const { event, clock } = this.mailbox.shift()!
    this.kernel.learn(clock)
    return event
  }

  requestSettle(): void {
    if (this.settleRequested) return
    this.settleRequested = true
    this.post({ _tag: "Settle" })
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

  /** The supervisor is interrupted (from outside, or by its parent's forced stop): every child is interrupted at once. */
  interrupt(injected?: ModelExit): void {
    if (!this.alive) return
    this.kernel.kill(this.main)
    this.end(injected ?? interrupted)
  }

  private end(outcome: ModelExit): void {
    this.kernel.kill(this.declaration)
    this.declaration = undefined
    for (const task of this.helpers) this.kernel.kill(task)
    for (const timer of this.timers) this.kernel.cancel(timer)
    runNow(this.stopFrom(0, "force"))
    this.alive = false
    for (const reply of [...this.replies]) {
      this.replies.delete(reply)
      reply("NotFound")
    }
    if (!this.stable.done) this.host.started.resolve(this.kernel, outcome.kind === "normal" ? { ok: true } : { ok: false, exit: outcome })
    this.ended(outcome)
  }

  private *handle(event: Event): Proc<ModelExit | undefined> {
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
        if (rec.state === "running" && !rec.stopping) continue
        if (rec.finished) continue
        rec.terminated = false
        const started: Started = yield* self.launch(rec)
        if (!started.ok) {
          if (!rec.stopping) self.abandoned ??= startupError(rec, started.exit)
          break
        }
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
      for (const rec of starting) yield* this.stop(rec, "graceful")
      this.stoppingGroup = false
    }
    this.startGeneration()
  }

  /** Starts a new incarnation of `rec` and resumes once its startup ended. */
  private *launch(rec: Rec): Proc<Started> {
    if (rec.incarnation > 0) {
      rec.restarts++
      this.model.bump(this.model.restartCounts, rec.path)
    }
    rec.incarnation++
    rec.state = "starting"
    rec.stopping = false
    const host = new Host()
    rec.host = host
    if (rec.spec.kind === "worker") {
      this.model.startWorker(rec, host)
    } else {
      const sup = new Sup(this.model, rec.spec, rec.path, host, (exit) => this.model.finish(rec, host, exit))
      host.sup = sup
      sup.stable.waiters.push(() => {
        if (host.started.resolve(this.kernel, { ok: true }) && rec.host === host && rec.state === "starting") rec.state = "running"
      })
      sup.start()
    }
    return yield wait(host.started)
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
    yield* this.stop(rec, "force")
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
    if (incarnation !== rec.incarnation || rec.stopping || rec.state !== "running") return undefined
    rec.state = "stopped"
    this.model.closeScope(rec.host!)
    if (exit.kind !== "normal") this.model.bump(this.model.abnormal, rec.path)
    if (!restartsAfter(rec.spec.policy, exit.kind)) {
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

  /** The intensity window slides: a restart counts for `within` after it happened, one made exactly `within` ago no longer. */
  private recordRestart(): boolean {
    const now = this.kernel.now
    this.window = this.window.filter((time) => time > now - this.spec.within)
    this.window.push(now)
    return this.window.length > this.spec.maxRestarts
  }

  /** The next backoff delay, or `undefined` once the schedule has ended; it starts over after `within` without a restart. */
  private nextDelay(): number | undefined {
    const backoff = this.spec.backoff
    if (backoff === undefined) return 0
    const now = this.kernel.now
    if (this.backoff === undefined || now - this.backoff.lastRestart >= this.spec.within) this.backoff = { index: 0, lastRestart: now }
    this.backoff.lastRestart = now
    if (backoff.times !== undefined && this.backoff.index >= backoff.times) return undefined
    const delay = backoff.kind === "spaced" ? backoff.base : backoff.base * 2 ** this.backoff.index
    this.backoff.index++
    return delay
  }

  private *giveUp(error: ModelError): Proc<ModelExit> {
    this.model.escalations.push(`${this.path} ${error.tag}`)
    this.model.bump(this.model.escalationCounts, this.path)
    yield* this.stopFrom(0, "graceful", true)
    return { kind: "failure", error }
  }

  private *restart(rec: Rec | undefined): Proc<ModelExit | undefined> {
    if (this.recordRestart()) return yield* this.giveUp({ tag: "TooManyRestarts", path: this.path })
    const delay = this.nextDelay()
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
      yield* this.stop(rec, mode)
      if (rec.spec.policy === "temporary") rec.finished = true
    }
  }

  /** Settle, then interrupt after the budget; `"brutal"`, a forced stop and a worker still starting are interrupted at once. */
  private *stop(rec: Rec, mode: "graceful" | "force"): Proc {
    const host = rec.host
    if (rec.state === "stopped" || host === undefined) return
    if (rec.state === "settling") {
      if (mode === "force") this.interruptHost(rec, host)
      yield wait(host.done)
      return
    }
    const budget = rec.spec.shutdown
    const wasRunning = rec.state === "running"
    const alive = !host.done.done
    const atOnce = mode === "force" || budget === "brutal" || (rec.state === "starting" && rec.spec.kind === "worker")
    rec.stopping = true
    rec.state = "settling"
    if (alive && !atOnce) {
      if (rec.spec.kind === "worker") this.model.settleWorker(rec, host)
      else host.sup!.requestSettle()
      const settled: boolean = budget === "infinity" ? (yield wait(host.done), true) : yield waitFor(host.done, budget as number, "budget")
      if (!settled) this.interruptHost(rec, host)
    } else if (alive) {
      this.interruptHost(rec, host)
    }
    yield wait(host.done)
    this.model.closeScope(host)
    rec.state = "stopped"
    if (!alive && !wasRunning) return
    const kind = host.done.value.kind
    if (wasRunning && (kind === "failure" || kind === "defect")) this.model.bump(this.model.abnormal, rec.path)
  }

  private interruptHost(rec: Rec, host: Host): void {
    if (rec.spec.kind === "worker") this.model.workerExit(rec, host, "interrupted", "interrupted")
    else host.sup!.interrupt()
  }

  // --- administration ---------------------------------------------------------------------------

  *terminateChild(name: string, reply: Reply): Proc<undefined> {
    const rec = this.find(name)
    if (rec === undefined) return reply("NotFound")
    rec.terminated = true
    yield* this.stop(rec, "graceful")
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
