/**
 * Starts the spool as a real process (the way `npm run example:spool` does)
 * and talks to it over HTTP: for the tests, the load script and the fault
 * drill. Ports are picked free; the process's output is kept.
 */
import { type ChildProcess, spawn } from "node:child_process"
import type { Agent } from "node:http"
import { keepAlive, send } from "./http.ts"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("./main.ts", import.meta.url))

export interface SpoolProcess {
  readonly child: ChildProcess
  /** `http://127.0.0.1:port` of the ingest and of the observer. */
  readonly ingest: string
  readonly observer: string
  output(): string
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<number | string>
  /** Asks it to stop (SIGTERM) and waits for its end. */
  stop(): Promise<number | string>
}

/** Starts the spool with `env` (SPOOL_* settings) and resolves once its ingest listens; rejects if it ends first. */
export const startSpool = (
  env: Record<string, string>,
  options: { readonly timeoutMs?: number; readonly nodeArgs?: ReadonlyArray<string> } = {}
): Promise<SpoolProcess> => {
  const timeoutMs = options.timeoutMs ?? 30_000
  const child = spawn(process.execPath, [...options.nodeArgs ?? [], "--conditions=@arbor/source", main], {
    env: { ...process.env, SPOOL_PORT: "0", ARBOR_OBSERVER_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`the spool did not start within ${timeoutMs} ms:\n${output}`))
    }, timeoutMs)
    const append = (chunk: Buffer) => {
      output += chunk.toString()
      const ingest = /ingest listening on (http:\/\/[\d.:]+)/.exec(output)?.[1]
      const observer = /observer listening on (http:\/\/[\d.:]+)/.exec(output)?.[1]
      if (ingest === undefined || observer === undefined) return
      clearTimeout(timer)
      child.stdout!.off("data", append)
      child.stdout!.on("data", (more: Buffer) => output += more.toString())
      resolve({
        child,
        ingest,
        observer,
        output: () => output,
        exited,
        stop: () => {
          child.kill("SIGTERM")
          return exited
        }
      })
    }
    child.stdout!.on("data", append)
    child.stderr!.on("data", (chunk: Buffer) => output += chunk.toString())
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`the spool exited (${code}) before it listened:\n${output}`))
    })
  })
}

/** Posts one message; the answer's status, and its id when it was accepted. */
export const post = (agent: Agent, ingest: string, message: { readonly to: string; readonly body: string }, headers = {}) =>
  send(agent, `${ingest}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(message)
  }).then((answer) => ({ ...answer, id: answer.status === 202 ? (JSON.parse(answer.body) as { id: number }).id : undefined }))

/** The value of a metric (first series whose line starts with `name`), read from the observer. */
export const metric = async (agent: Agent, observer: string, name: string): Promise<number> => {
  const text = (await send(agent, `${observer}/metrics`)).body
  const line = text.split("\n").find((line) => line.startsWith(name))
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(" ") + 1))
}


/** Resolves once `check` holds, polling every 50 ms; rejects after `timeoutMs`. */
export const until = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> => {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** What a traffic generator saw: each answer's time (ms since it started) and status, and the ids accepted. */
export interface Traffic {
  /** When it started (`performance.now()`): answers' times count from here. */
  readonly started: number
  readonly answers: Array<{ readonly at: number; readonly status: number }>
  readonly accepted: Array<number>
  /** Stops sending; resolves once every request in flight is answered (or failed). */
  stop(): Promise<void>
}

/**
 * Posts messages from `clients` concurrent clients, each sending its next as
 * soon as the last is answered (after `pause` ms if it was refused), until
 * stopped or for `maxMillis` at most.
 */
export const startTraffic = (ingest: string, options: { readonly clients: number; readonly pause?: number; readonly maxMillis?: number }): Traffic => {
  const agent = keepAlive(options.clients)
  const started = performance.now()
  const end = started + (options.maxMillis ?? 120_000)
  const answers: Traffic["answers"] = []
  const accepted: Array<number> = []
  let stopped = false
  let n = 0
  const client = async () => {
    while (!stopped && performance.now() < end) {
      const answer = await post(agent, ingest, { to: "drill@example.org", body: `message ${++n}` }).catch(() => undefined)
      answers.push({ at: performance.now() - started, status: answer?.status ?? 0 })
      if (answer?.id !== undefined) accepted.push(answer.id)
      else await new Promise((resolve) => setTimeout(resolve, options.pause ?? 20))
    }
  }
  const running = Promise.all(Array.from({ length: options.clients }, client))
  return {
    started,
    answers,
    accepted,
    stop: async () => {
      stopped = true
      await running
      agent.destroy()
    }
  }
}
