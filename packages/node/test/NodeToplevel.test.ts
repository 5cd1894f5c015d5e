import { describe, expect, it } from "@effect/vitest"
import { NodeToplevel } from "@arbor/node"
import { Exit, Runtime } from "effect"
import { fileURLToPath } from "node:url"
import { positions, run } from "./process.ts"

const fixture = fileURLToPath(new URL("./fixtures/tree.ts", import.meta.url))

describe("NodeToplevel.runMain", () => {
  it("the first SIGINT stops the tree gracefully, in reverse order, with exit code 0", async () => {
    const program = run(fixture, ["graceful"])
    await program.waitFor("last ready")
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(0)
    const [last, first] = positions(program.output(), ["last settled", "first settled"])
    expect(last).toBeGreaterThan(0)
    expect(first).toBeGreaterThan(last!)
    expect(program.output()).toContain("SIGINT received, stopping gracefully")
  })

  it("SIGTERM does the same", async () => {
    const program = run(fixture, ["graceful"])
    await program.waitFor("last ready")
    program.child.kill("SIGTERM")
    expect(await program.exited()).toBe(0)
    expect(program.output()).toContain("first settled")
  })

  it("a second signal interrupts at once, with exit code 130", async () => {
    const program = run(fixture, ["stubborn"])
    await program.waitFor("last ready")
    program.child.kill("SIGINT")
    await program.waitFor("last settled")
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(130)
    expect(program.output()).toContain("received again, interrupting")
    expect(program.output()).toContain("fixture: stop forced; children were interrupted")
    expect(program.output()).not.toContain("first settled")
  })

  it("a third signal ends a process whose interruption cannot complete, with exit code 130", async () => {
    const program = run(fixture, ["uninterruptible"])
    await program.waitFor("last ready")
    program.child.kill("SIGINT")
    await program.waitFor("last settled")
    program.child.kill("SIGINT")
    await program.waitFor("received again, interrupting")
    // The interruption waits for the uninterruptible region: the process is still there.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(program.child.exitCode).toBeNull()
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(130)
  })

  it("the signals option replaces SIGINT and SIGTERM", async () => {
    const program = run(fixture, ["hangup"])
    await program.waitFor("last ready")
    program.child.kill("SIGHUP")
    expect(await program.exited()).toBe(0)
    expect(program.output()).toContain("SIGHUP received, stopping gracefully")
  })

  it("something left running after the tree stopped does not keep the process alive", async () => {
    const program = run(fixture, ["leak"])
    await program.waitFor("last ready")
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(0)
    expect(program.output()).toContain("still busy 5 seconds after the tree stopped")
  })

  it("the hard deadline bounds the graceful stop, with exit code 130", async () => {
    const program = run(fixture, ["deadline"])
    await program.waitFor("last ready")
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(130)
    expect(program.output()).toContain("hard deadline of 500ms passed")
    expect(program.output()).toContain("fixture: stop forced; children were interrupted")
  })

  it("escalation at the top ends the process with exit code 1 and the error logged once, in one last line", async () => {
    const program = run(fixture, ["escalate"])
    expect(await program.exited()).toBe(1)
    const output = program.output()
    const last = output.trimEnd().split("\n").at(-1)!
    expect(last).toContain("fixture: stopped after a failure: TooManyRestarts: fixture: more than 0 restarts within 1s")
    expect(last).toMatch(/last: fixture\/crashy: Error: boom \{ path: 'fixture' \}$/)
    // The cause was logged once, where it arose: not repeated after the message, nor printed as a nested Cause.
    expect(output).not.toContain("Error: boom Error: boom")
    expect(output).not.toContain("Cause([")
  })

  it("a JSON-logged run writes only JSON lines, from the first to the exit after SIGINT", async () => {
    const program = run(fixture, ["json"])
    await program.waitFor("last ready")
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(0)
    const lines = program.output().trimEnd().split("\n").map((line) => JSON.parse(line))
    expect(lines[0].message).toMatch(/^observer listening on http:\/\/127\.0\.0\.1:\d+$/)
    expect(lines.map((line) => line.message)).toContain("fixture: SIGINT received, stopping gracefully (send it again to stop at once)")
    expect(lines.at(-1)).toMatchObject({ message: "fixture: shutdown complete", level: "INFO", annotations: { path: "fixture" } })
  })

  it("a JSON-logged tree that gives up writes only JSON lines too, its cause as a field", async () => {
    const program = run(fixture, ["json-escalate"])
    expect(await program.exited()).toBe(1)
    const lines = program.output().trimEnd().split("\n").map((line) => JSON.parse(line))
    expect(lines.find((line) => line.level === "WARN").cause).toMatch(/^Error: boom\n/)
    expect(lines.at(-1)).toMatchObject({ level: "ERROR", message: expect.stringContaining("stopped after a failure: TooManyRestarts") })
  })

  it("invalid options fail with exit code 1 before anything starts", async () => {
    const program = run(fixture, ["invalid"])
    expect(await program.exited()).toBe(1)
    expect(program.output()).toContain("hardDeadline")
    expect(program.output()).not.toContain("ready")
  })

  it("a tree that needs services gets them from the layer", async () => {
    const program = run(fixture, ["service"])
    await program.waitFor("hello ready")
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(0)
  })

  it("maps exits to the documented codes, Effect's own (Runtime.defaultTeardown)", () => {
    expect(NodeToplevel.exitCodeOf(Exit.void)).toBe(0)
    expect(NodeToplevel.exitCodeOf(Exit.fail("escalated"))).toBe(1)
    expect(NodeToplevel.exitCodeOf(Exit.die("bug"))).toBe(1)
    expect(NodeToplevel.exitCodeOf(Exit.interrupt())).toBe(130)
    // An error may choose its own code, as Effect's runMain lets it.
    expect(NodeToplevel.exitCodeOf(Exit.fail({ [Runtime.errorExitCode]: 3 }))).toBe(3)
  })
})
