import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/**
 * A health gate's decisions, as plain functions of its state and the time.
 * The running gate (`gate.ts`) applies them synchronously, one at a time, so
 * no signal can slip in between a decision and the state it leaves: an error
 * recorded at the very moment the gate would unlatch is seen either before
 * the unlatch (it defers it) or after (it counts toward the next latch).
 */

/** A gate's options once validated, in milliseconds. */
export interface GateConfig {
  readonly latchAfter: number
  readonly unlatchAfter: number
  readonly allowUnlatch: boolean
}

/** Where a gate is: healthy, suspect (an unhealthy signal holds; the latch window runs) or latched. */
export type Status =
  | { readonly _tag: "Healthy" }
  | { readonly _tag: "Suspect"; readonly since: number; readonly reason: string }
  | { readonly _tag: "Latched"; readonly since: number; readonly reason: string }

/** How much an error says about the dependency (`HealthGate.Severity`). */
export type Severity = "fatal" | "unhealthy" | "ignore"

const fatalCodes = new Set(["ENOSPC", "EDQUOT", "EIO", "EROFS"])

/** `HealthGate.classifyDefault`: a full disk or a failed device is fatal, anything else unhealthy. */
export const classifyDefault = (error: unknown): Severity =>
  typeof error === "object" && error !== null && "code" in error && fatalCodes.has(String(error.code)) ? "fatal" : "unhealthy"

/** The error of `guard` while the gate is latched (`HealthGate.Unhealthy`). */
export class Unhealthy extends Schema.TaggedError<Unhealthy>()("Unhealthy", {
  gate: Schema.String,
  reason: Schema.String,
  since: Schema.Number
}) {
  override get message(): string {
    return `health gate ${this.gate} is latched: ${this.reason}`
  }
}

/** What a step did that deserves an event: the gate latched, or it unlatched. */
export type Change =
  | { readonly _tag: "Latched"; readonly reason: string }
  | { readonly _tag: "Unlatched"; readonly by: "quiet" | "reset"; readonly latchedMillis: number }

/** One unhealthy signal while the window is open: how often it said so, and what it said first and last. */
interface Holding {
  count: number
  /** For a probe, its value when it started growing. */
  readonly from: number | undefined
  last: string
}

const healthy: Status = { _tag: "Healthy" }

/** The signal name under which `record` counts errors. */
export const errorsSignal = "errors"

export class GateState {
  status: Status = healthy
  /** The signals that are unhealthy now; the gate is suspect while there is one. */
  readonly holding = new Map<string, Holding>()
  /** Each probe's last value: its baseline, which the next report is compared with. */
  readonly probes = new Map<string, number>()
  /** While latched: when a signal last grew (or when it latched). The quiet period counts from here. */
  lastGrowth = 0
  latches = 0
}

/**
 * A non-fatal unhealthy signal. It opens the latch window if none is open;
 * while latched it is growth, which restarts the quiet period.
 */
export const unhealthy = (state: GateState, now: number, signal: string, detail: string, value?: number): void => {
  if (state.status._tag === "Latched") {
    state.lastGrowth = now
    return
  }
  const holding = state.holding.get(signal)
  if (holding === undefined) state.holding.set(signal, { count: 1, from: value, last: detail })
  else {
    holding.count++
    holding.last = detail
  }
  const since = state.status._tag === "Suspect" ? state.status.since : now
  state.status = { _tag: "Suspect", since, reason: describe(state.holding) }
}

/** A fatal signal latches at once; while latched it is growth. */
export const fatal = (state: GateState, now: number, detail: string): Change | undefined => {
  if (state.status._tag === "Latched") {
    state.lastGrowth = now
    return undefined
  }
  return latch(state, now, `fatal: ${detail}`)
}

/** A healthy observation of `signal`: it no longer holds; with no other signal holding, the window closes. */
export const healthyNow = (state: GateState, signal: string): void => {
  if (state.status._tag !== "Suspect" || !state.holding.delete(signal)) return
  state.status = state.holding.size === 0 ? healthy : { ...state.status, reason: describe(state.holding) }
}

/**
 * A probe's report of a counter. The first report is the baseline (what the
 * counter stood at before does not count); growth over the last report is an
 * unhealthy observation, no growth a healthy one. A lower value means the
 * counter started over (its source restarted): it becomes the new baseline.
 */
export const observe = (state: GateState, now: number, probe: string, value: number): void => {
  const last = state.probes.get(probe)
  state.probes.set(probe, value)
  if (last === undefined || value <= last) return healthyNow(state, probe)
  const from = state.holding.get(probe)?.from ?? last
  unhealthy(state, now, probe, `${probe} grew from ${from} to ${value}`, from)
}

/** The timer's step: latch once the window has held for `latchAfter`; unlatch after `unlatchAfter` of quiet. */
export const tick = (state: GateState, config: GateConfig, now: number): Change | undefined => {
  const status = state.status
  if (status._tag === "Suspect" && now - status.since >= config.latchAfter) {
    return latch(state, now, `unhealthy for ${Duration.format(Duration.millis(now - status.since))}: ${status.reason}`)
  }
  if (status._tag === "Latched" && config.allowUnlatch && now - state.lastGrowth >= config.unlatchAfter) {
    return unlatch(state, now, "quiet")
  }
  return undefined
}

/** When the timer must look again, if at all. */
export const nextDeadline = (state: GateState, config: GateConfig): number | undefined => {
  switch (state.status._tag) {
    case "Suspect":
      return state.status.since + config.latchAfter
    case "Latched":
      return config.allowUnlatch ? state.lastGrowth + config.unlatchAfter : undefined
    case "Healthy":
      return undefined
  }
}

/** `gate.reset`: clears a latch (or an open window) at once. */
export const reset = (state: GateState, now: number): Change | undefined => {
  if (state.status._tag === "Latched") return unlatch(state, now, "reset")
  state.holding.clear()
  state.status = healthy
  return undefined
}

const latch = (state: GateState, now: number, reason: string): Change => {
  state.status = { _tag: "Latched", since: now, reason }
  state.holding.clear()
  state.lastGrowth = now
  state.latches++
  return { _tag: "Latched", reason }
}

/**
 * Clears the latch. The probes keep their last reports, which are their
 * baselines from now on (re-anchored): what a counter grew by while latched
 * does not count again.
 */
const unlatch = (state: GateState, now: number, by: "quiet" | "reset"): Change | undefined => {
  if (state.status._tag !== "Latched") return undefined
  const latchedMillis = now - state.status.since
  state.status = healthy
  state.holding.clear()
  return { _tag: "Unlatched", by, latchedMillis }
}

const describe = (holding: ReadonlyMap<string, Holding>): string =>
  [...holding].map(([signal, { count, last }]) =>
    signal === errorsSignal ? `${count} error${count === 1 ? "" : "s"}, last: ${last}` : last
  ).join("; ")
