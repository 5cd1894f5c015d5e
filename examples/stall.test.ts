/**
 * Smoke test of examples/stall, run as a real process the way a user runs it.
 */
import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { jsonLine, run } from "../packages/node/test/process.ts"

const example = fileURLToPath(new URL("./stall/main.ts", import.meta.url))
const source = readFileSync(example, "utf8").split("\n")
const loopLine = source.findIndex((line) => line.includes("for (let order = 0;")) + 1

const report = (output: string) =>
  JSON.parse(output.split("\n").find((line) => line.startsWith("{\"type\":\"arbor.watchdog.stall\""))!)

describe("examples/stall", () => {
  it("with WATCHDOG_ACTION=log, reports the stuck function and line, carries on, and stops cleanly on Ctrl-C", async () => {
    const program = run(example, [], { WATCHDOG_ACTION: "log" })
    await program.waitFor(jsonLine("arbor.watchdog.stall"))
    expect(report(program.output()).stack[0]).toMatchObject({ functionName: "buildReport", line: loopLine })
    // The report shows the tree as last shared: its children and their states.
    const children = report(program.output()).snapshot.root.children
    expect(children.map((child: { name: string; state: string }) => `${child.name}:${child.state}`)).toEqual([
      "server:running",
      "traffic:running"
    ])
    // Once free, the main thread hears of it: the layer logs it as a warning, and /healthz tells it.
    await program.waitFor(/event loop stalled for [^\n]* at buildReport \(file:[^\n]*main\.ts:\d+:\d+\)/)
    const url = /observer listening on (http:\/\/[\d.:]+)/.exec(program.output())![1]!
    const health = await (await fetch(`${url}/healthz`)).json() as { checks: { eventLoop: { lastStall: { where: string } } } }
    expect(health.checks.eventLoop.lastStall.where).toMatch(/^buildReport \(file:/)
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(0)
  })

  it("with WATCHDOG_ACTION=exit, reports and ends the process with SIGKILL", async () => {
    const program = run(example, [], { WATCHDOG_ACTION: "exit" })
    expect(await program.exited()).toBe("SIGKILL")
    expect(report(program.output())).toMatchObject({ action: "exit", signal: "SIGKILL" })
    expect(report(program.output()).stack[0].functionName).toBe("buildReport")
  })
})
