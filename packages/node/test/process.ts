/**
 * Runs a TypeScript program as a real child process, under the same Node as
 * the tests, and lets a test wait for its output, signal it and collect its
 * exit. Waits are bounded generously: they check behaviour, not speed.
 */
import { type ChildProcess, spawn } from "node:child_process"

export interface Program {
  readonly child: ChildProcess
  /** Everything written to stdout and stderr so far, interleaved. */
  output(): string
  /** Resolves once the output contains `text`; rejects after `timeoutMs`. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>
  /** Resolves with the exit code (or the signal's name) once the process ends. */
  exited(timeoutMs?: number): Promise<number | string>
}

/**
 * Runs `script` with the repository's packages from their sources (the
 * `@arbor/source` condition), unless `conditions` says otherwise.
 */
export const run = (
  script: string,
  args: ReadonlyArray<string> = [],
  env: Record<string, string> = {},
  nodeArgs: ReadonlyArray<string> = [],
  { conditions = ["@arbor/source"] }: { readonly conditions?: ReadonlyArray<string> } = {}
): Program => {
  const flags = conditions.map((condition) => `--conditions=${condition}`)
  const child = spawn(process.execPath, [...nodeArgs, ...flags, script, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const listeners = new Set<() => void>()
  const append = (chunk: Buffer) => {
    output += chunk.toString()
    for (const listener of listeners) listener()
  }
  child.stdout!.on("data", append)
  child.stderr!.on("data", append)
  const exit = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
  )
  const matches = (text: string | RegExp) => typeof text === "string" ? output.includes(text) : text.test(output)

  return {
    child,
    output: () => output,
    waitFor: (text, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (matches(text)) return resolve()
        const timer = setTimeout(() => {
          listeners.delete(check)
          reject(new Error(`timed out waiting for ${String(text)}; output so far:\n${output}`))
        }, timeoutMs)
        const check = () => {
          if (!matches(text)) return
          clearTimeout(timer)
          listeners.delete(check)
          resolve()
        }
        listeners.add(check)
        void exit.then(() => {
          if (!matches(text)) {
            clearTimeout(timer)
            reject(new Error(`exited before printing ${String(text)}; output:\n${output}`))
          }
        })
      }),
    exited: (timeoutMs = 30_000) =>
      Promise.race([
        exit,
        new Promise<never>((_, reject) =>
          setTimeout(() => {
            child.kill("SIGKILL")
            reject(new Error(`did not exit within ${timeoutMs} ms; output:\n${output}`))
          }, timeoutMs).unref()
        )
      ])
  }
}

/** The position of each text in the output, to check the order things happened in. */
export const positions = (output: string, texts: ReadonlyArray<string>): Array<number> =>
  texts.map((text) => output.indexOf(text))

/** A whole JSON line of the given `type` (read before a program ends, its output may stop mid-line). */
export const jsonLine = (type: string): RegExp => new RegExp(`^\\{"type":"${type.replaceAll(".", "\\.")}".*\\n`, "m")
