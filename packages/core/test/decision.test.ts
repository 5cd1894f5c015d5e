import { describe, expect, it } from "@effect/vitest"
import { Errors } from "@arbor/core"
import { Cause, Duration } from "effect"
import type { Verdict } from "../src/internal/decision.ts"
import { autoShutdownAfter, decideRestart } from "../src/internal/decision.ts"

const restart: Verdict = { _tag: "Restart", delay: Duration.zero, restart: 1, maxRestarts: 3, within: "5s" }
const children = ["a", "b", "c", "d"]

describe("a supervisor's restart decision", () => {
  it("gives up when the budget says so, whatever the strategy", () => {
    const error = new Errors.TooManyRestarts({ path: "app", child: "app/b", maxRestarts: 3, within: "5s", cause: Cause.empty })
    expect(decideRestart({ _tag: "GiveUp", error }, "one_for_one", children, "b", 0, undefined)).toEqual({ _tag: "GiveUp", error })
  })

  it("restarts the failed child alone under one_for_one", () => {
    expect(decideRestart(restart, "one_for_one", children, "c", 0, undefined)).toEqual({ _tag: "RestartOne", verdict: restart, child: "c" })
  })

  it("restarts the failed child and those declared after it under rest_for_one", () => {
    expect(decideRestart(restart, "rest_for_one", children, "c", 0, undefined)).toEqual({ _tag: "RestartGroup", verdict: restart, from: 2 })
  })

  it("restarts every child under one_for_all", () => {
    expect(decideRestart(restart, "one_for_all", children, "c", 0, undefined)).toEqual({ _tag: "RestartGroup", verdict: restart, from: 0 })
  })

  it("restarts the group of a failed replay again, from where it began", () => {
    expect(decideRestart(restart, "rest_for_one", children, undefined, 1, undefined)).toEqual({ _tag: "RestartGroup", verdict: restart, from: 1 })
  })

  it("widens a group restart that waits for its backoff to take the new one in", () => {
    expect(decideRestart(restart, "rest_for_one", children, "d", 0, 1)).toEqual({ _tag: "RestartGroup", verdict: restart, from: 1 })
    expect(decideRestart(restart, "rest_for_one", children, "b", 0, 2)).toEqual({ _tag: "RestartGroup", verdict: restart, from: 1 })
  })
})

describe("autoShutdown after a significant child finished", () => {
  it("never shuts down with never", () => {
    expect(autoShutdownAfter("never", false)).toBe(false)
  })

  it("shuts down at once with anySignificant", () => {
    expect(autoShutdownAfter("anySignificant", true)).toBe(true)
  })

  it("shuts down with allSignificant once no other significant child runs", () => {
    expect(autoShutdownAfter("allSignificant", true)).toBe(false)
    expect(autoShutdownAfter("allSignificant", false)).toBe(true)
  })
})
