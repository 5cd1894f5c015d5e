/**
 * The soak, shortened: the crash storm of `npm run soak` for 5 seconds, as a
 * real process (it needs `--expose-gc`). It must handle every crash it
 * injects, keep its heap flat and shut down gracefully.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const script = fileURLToPath(new URL("./soak.ts", import.meta.url))

const soak = (seconds: number) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, ["--expose-gc", "--conditions=@arbor/source", script, "--duration", String(seconds)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.on("exit", (code) => resolve({ code, output }))
  })

describe("soak", () => {
  it("a 5-second crash storm on 10,000 children: every crash handled, heap flat, graceful shutdown", async () => {
    const { code, output } = await soak(5)
    const handled = /crashes handled: (\d+) restarts for (\d+) crashes injected/.exec(output)
    expect(handled, output).not.toBeNull()
    const [, restarts, crashes] = handled!.map(Number)
    expect(crashes, output).toBeGreaterThan(1_000)
    expect(restarts).toBe(crashes)
    // The storm's own figure is the total less the warm-up, and says so.
    const [, warmUp, storm] = /\((\d+) in the warm-up \+ (\d+) in the storm\)/.exec(output)!.map(Number)
    expect(warmUp! + storm!).toBe(crashes)
    expect(output).toContain(`soak: storm: ${storm} crashes in`)
    expect(output).toContain("workers running at the end: 10000 of 10000")
    expect(output).toMatch(/ok {3}heap once warm/)
    expect(output.trimEnd().endsWith("soak: PASS"), output).toBe(true)
    expect(code).toBe(0)
  }, 120_000)
})
