import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { InvalidOptions } from "../Errors.ts"
import { Lifecycle } from "../Lifecycle.ts"
import * as Metrics from "../Metrics.ts"
import * as ArborOptions from "../Options.ts"
import type { Gate } from "../TreeSnapshot.ts"
import type { Change, GateConfig, Severity, Status } from "./gateState.ts"
import { classifyDefault, Unhealthy } from "./gateState.ts"
import * as GateState from "./gateState.ts"
import { logAt } from "./log.ts"
import { validateName } from "./options.ts"
import { summary } from "./summary.ts"
import type { EventInput, Telemetry } from "./telemetry.ts"

const OptionsSchema = Schema.Struct({
  latchAfter: Schema.optionalKey(ArborOptions.PositiveDuration),
  unlatchAfter: Schema.optionalKey(ArborOptions.PositiveDuration),
  allowUnlatch: Schema.optionalKey(Schema.Boolean),
  classify: Schema.optionalKey(Schema.declare((u: unknown): u is (error: unknown) => Severity => typeof u === "function", {
    expected: "a function from an error to \"fatal\", \"unhealthy\" or \"ignore\""
  }))
})

/** The gates of one tree, by name: the toplevel lists them in its snapshot and announces their changes. */
export class GateRegistry {
  readonly gates = new Map<string, GateImpl>()
  readonly telemetry: Telemetry

  constructor(telemetry: Telemetry) {
    this.telemetry = telemetry
  }

  /** The gates as a snapshot lists them, in the order they were made. */
  snapshot(): Array<Gate> {
    return [...this.gates.values()].map((gate) => gate.snapshot())
  }
}

/** The registry of the tree the current fiber runs in; none outside a tree. */
export const CurrentGates = Context.Reference<GateRegistry | undefined>("@arbor/core/CurrentGates", {
  defaultValue: () => undefined
})

const millis = (input: Duration.Input | undefined, fallback: Duration.Input): number =>
  Duration.toMillis(Duration.fromInputUnsafe(input ?? fallback))

/** `HealthGate.make`: what it makes is checked to be a `HealthGate` there. */
export const makeGate = (name: string, options: unknown) =>
  Effect.gen(function*() {
    const owner = Option.map(yield* Effect.serviceOption(Lifecycle), (lifecycle) => lifecycle.path)
    const path = Option.getOrElse(owner, () => name)
    yield* validateName(path, name)
    const decoded = yield* ArborOptions.decode(OptionsSchema, path, options)
    const registry = yield* CurrentGates
    const existing = registry?.gates.get(name)
    if (existing !== undefined) {
      // A replay of the system that made it gets it back.
      if (existing.path === path) return existing
      return yield* new InvalidOptions({ path, issue: `a health gate named "${name}" already exists (made by ${existing.path})` })
    }
    const config: GateConfig = {
      latchAfter: millis(decoded.latchAfter, "15 seconds"),
      unlatchAfter: millis(decoded.unlatchAfter, "5 minutes"),
      allowUnlatch: decoded.allowUnlatch ?? true
    }
    const scope = yield* Scope.Scope
    // Sliding: a subscriber that does not read holds at most a few statuses, never the gate up.
    const pubsub = yield* PubSub.sliding<Status>({ capacity: 16, replay: 1 })
    const classify = decoded.classify ?? classifyDefault
    const gate = new GateImpl({ name, path, config, classify, scope, pubsub, telemetry: registry?.telemetry })
    const latched = Metric.withAttributes(Metrics.healthGateLatched, { gate: name })
    const registration = Metric.registerUnsafe(latched, yield* Effect.context<never>(), {
      get: () => ({ value: gate.state.status._tag === "Latched" ? 1 : 0 }),
      update: () => {},
      modify: () => {}
    })
    yield* Metric.update(gate.latchCount, 0)
    registry?.gates.set(name, gate)
    yield* Scope.addFinalizer(scope, Effect.sync(() => {
      registration.remove()
      gate.stopTimer()
      if (registry?.gates.get(name) === gate) registry.gates.delete(name)
    }))
    return gate
  })

/** What a gate is made with. */
interface GateSettings {
  readonly name: string
  readonly path: string
  readonly config: GateConfig
  readonly classify: (error: unknown) => Severity
  /** Where its timer fibers live: they end with it. */
  readonly scope: Scope.Scope
  readonly pubsub: PubSub.PubSub<Status>
  /** The tree's, to announce latches as events; none outside a tree (log lines only). */
  readonly telemetry: Telemetry | undefined
}

/**
 * A running gate. Every step runs the state machine synchronously, then
 * publishes the new status, arms the timer for the next deadline and
 * announces a latch or an unlatch. One timer at most: a deadline that moves
 * later (a signal deferring the unlatch) lets the armed timer fire and
 * re-arm; one that moves earlier replaces it.
 *
 * It is what `HealthGate.HealthGate` describes: checked where `HealthGate.make` returns it.
 */
class GateImpl {
  readonly state = new GateState.GateState()
  private timer: { readonly at: number; readonly fiber: Fiber.Fiber<void> } | undefined
  readonly latchCount: Metric.Metric<number, unknown>
  readonly changes: Stream.Stream<Status>
  private readonly settings: GateSettings

  constructor(settings: GateSettings) {
    this.settings = settings
    this.latchCount = Metric.withAttributes(Metrics.healthGateLatches, { gate: settings.name })
    PubSub.publishUnsafe(settings.pubsub, this.state.status)
    this.changes = Stream.fromPubSub(settings.pubsub)
  }

  get name(): string {
    return this.settings.name
  }

  get path(): string {
    return this.settings.path
  }

  get status(): Effect.Effect<Status> {
    return Effect.sync(() => this.state.status)
  }

  get isLatched(): Effect.Effect<boolean> {
    return Effect.sync(() => this.state.status._tag === "Latched")
  }

  record(error: unknown): Effect.Effect<void> {
    return this.step((state, now) => {
      const severity = this.settings.classify(error)
      if (severity === "ignore") return undefined
      const detail = summary(Cause.fail(error))
      if (severity === "fatal") return GateState.fatal(state, now, detail)
      return GateState.unhealthy(state, now, GateState.errorsSignal, detail)
    })
  }

  // The common case (healthy, nothing holding) touches nothing: a busy service calls it on every success.
  get recordSuccess(): Effect.Effect<void> {
    return Effect.suspend(() => this.state.status._tag === "Suspect" ? this.step(successStep) : Effect.void)
  }

  observe(probe: string, value: number): Effect.Effect<void> {
    return this.step((state, now) => GateState.observe(state, now, probe, value))
  }

  guard<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Unhealthy, R> {
    return Effect.suspend((): Effect.Effect<A, E | Unhealthy, R> => {
      const status = this.state.status
      return status._tag === "Latched"
        ? Effect.fail(new Unhealthy({ gate: this.name, reason: status.reason, since: status.since }))
        : effect
    })
  }

  get reset(): Effect.Effect<void> {
    return this.step((state, now) => GateState.reset(state, now))
  }

  snapshot(): Gate {
    const { status } = this.state
    const state = status._tag === "Healthy" ? "healthy" : status._tag === "Suspect" ? "suspect" : "latched"
    const since = status._tag === "Healthy" ? {} : { reason: status.reason, since: status.since }
    return { name: this.name, path: this.path, state, ...since, latches: this.state.latches }
  }

  stopTimer(): void {
    this.timer?.fiber.interruptUnsafe()
    this.timer = undefined
  }

  private step(decide: (state: GateState.GateState, now: number) => Change | void): Effect.Effect<void> {
    return Effect.withFiber((fiber) => {
      const before = this.state.status
      const change = decide(this.state, fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()) ?? undefined
      // `changes` tells moves between states, not each new reason of a suspect gate.
      if (this.state.status._tag !== before._tag) PubSub.publishUnsafe(this.settings.pubsub, this.state.status)
      const arm = this.arm()
      const announced = change === undefined ? undefined : this.announce(change)
      return arm === undefined ? announced ?? Effect.void : announced === undefined ? arm : Effect.andThen(arm, announced)
    })
  }

  /** Arms the timer for the next deadline, unless the armed one comes first; undefined when there is nothing to do. */
  private arm(): Effect.Effect<void> | undefined {
    const at = GateState.nextDeadline(this.state, this.settings.config)
    if (at === undefined) {
      this.stopTimer()
      return undefined
    }
    if (this.timer !== undefined && this.timer.at <= at) return undefined
    this.stopTimer()
    const fire: Effect.Effect<void> = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sleep(Math.max(0, at - now))).pipe(
      Effect.andThen(Effect.suspend(() => {
        if (this.timer?.at === at) this.timer = undefined
        return this.step((state, now) => GateState.tick(state, this.settings.config, now))
      }))
    )
    return Effect.map(Effect.forkIn(fire, this.settings.scope, { startImmediately: true }), (fiber) => {
      // A timer that already ran to its end (a zero wait) has re-armed itself, if need be.
      if (fiber.pollUnsafe() === undefined) this.timer = { at, fiber }
    })
  }

  private announce(change: Change): Effect.Effect<void> {
    if (change._tag === "Latched") {
      const message = `health gate ${this.name} latched: ${change.reason}`
      const event = { _tag: "GateLatched", path: this.path, gate: this.name, reason: change.reason } as const
      return Effect.andThen(Metric.update(this.latchCount, 1), this.emit(event, "Warn", message))
    }
    const why = change.by === "reset" ? "reset" : `no new trouble for ${Duration.format(Duration.millis(this.settings.config.unlatchAfter))}`
    const message = `health gate ${this.name} unlatched (${why}) after ${Duration.format(Duration.millis(change.latchedMillis))} latched`
    const event = { _tag: "GateUnlatched", path: this.path, gate: this.name, by: change.by, latchedMillis: change.latchedMillis } as const
    return this.emit(event, "Info", message)
  }

  private emit(event: EventInput, level: "Warn" | "Info", message: string): Effect.Effect<void> {
    const { telemetry } = this.settings
    return telemetry === undefined ? logAt(level, this.path, message) : telemetry.emit(event, level, message)
  }
}

const successStep = (state: GateState.GateState): void => GateState.healthyNow(state, GateState.errorsSignal)
