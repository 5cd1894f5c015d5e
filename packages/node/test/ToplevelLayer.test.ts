/**
 * `Toplevel.layer` run the Effect way, as a real process:
 * `Layer.launch(AppLayer).pipe(NodeRuntime.runMain)`, Effect's own runner.
 */
import { describe, expect, it } from "@effect/vitest"
import { fileURLToPath } from "node:url"
import { positions, run } from "./process.ts"

const fixture = fileURLToPath(new URL("./fixtures/layer.ts", import.meta.url))

describe("Layer.launch(Toplevel.layer(...)) under NodeRuntime.runMain", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`the first ${signal} settles the tree in reverse order; the program ends as interrupted (130)`, async () => {
      const program = run(fixture, ["graceful"])
      await program.waitFor("last ready: hello")
      program.child.kill(signal)
      expect(await program.exited()).toBe(130)
      const [requested, last, first, complete] = positions(program.output(), [
        "fixture: shutdown requested",
        "last settled",
        "first settled",
        "fixture: shutdown complete"
      ])
      expect(requested).toBeGreaterThan(0)
      expect([requested, last, first, complete]).toEqual([...[requested, last, first, complete]].sort((a, b) => a! - b!))
    })
  }

  it("the tree giving up fails the program: exit code 1, the error in one last line", async () => {
    const program = run(fixture, ["escalate"])
    expect(await program.exited()).toBe(1)
    const output = program.output()
    expect(output.trimEnd().split("\n").at(-1)).toContain(
      "fixture: stopped after a failure: TooManyRestarts: fixture: more than 0 restarts within 1s; last: fixture/crashy: Error: boom"
    )
    expect(output).not.toContain("Cause([")
    expect(positions(output, ["last settled", "first settled"])).toEqual(
      [...positions(output, ["last settled", "first settled"])].sort((a, b) => a - b)
    )
  })

  it("a startup failure fails the layer's build: exit code 1, the children already started stopped", async () => {
    const program = run(fixture, ["startup"])
    expect(await program.exited()).toBe(1)
    const output = program.output()
    expect(output).toContain("first settled")
    expect(output).not.toContain("last ready")
    expect(output.trimEnd().split("\n").at(-1)).toContain(
      "fixture: stopped after a failure: StartupFailed: fixture/broken: startup failed: Error: no database"
    )
    expect(output).not.toContain("Cause([")
  })

  it("the observer and the watchdog compose as layers: served while the tree runs, closed after it stopped", async () => {
    const program = run(fixture, ["observed"])
    await program.waitFor("last ready: hello")
    const url = /observer listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(program.output())![1]!
    const health = await (await fetch(`${url}/healthz`)).json()
    // The watchdog, provided to the observer, reports the event loop's last stall on /healthz.
    expect(health).toEqual({ status: "ok", tree: "running", checks: { eventLoop: { lastStall: null } } })
    expect((await fetch(`${url}/readyz`)).status).toBe(200)
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(130)
    expect(program.output()).toContain("fixture: shutdown complete")
    await expect(fetch(`${url}/healthz`)).rejects.toThrow()
  })
})
