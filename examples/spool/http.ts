/**
 * A small HTTP client over Node's `http` module with keep-alive: the
 * delivery pool posts to the sink with it, and the tests, the load script and
 * the drill talk to the spool with it. (Lighter per request than `fetch`.)
 */
import { Agent, request } from "node:http"

export interface Answer {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly body: string
}

/** One HTTP request over a keep-alive agent; resolves with the whole answer. */
export const send = (
  agent: Agent,
  url: string,
  options: {
    readonly method?: string
    readonly headers?: Record<string, string>
    readonly body?: string
    readonly signal?: AbortSignal
  } = {}
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const { method = "GET", headers, signal } = options
    const req = request(url, { agent, method, ...(headers === undefined ? {} : { headers }), ...(signal === undefined ? {} : { signal }) }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks).toString() }))
      response.on("error", reject)
    })
    req.on("error", reject)
    req.end(options.body)
  })

/** An agent keeping up to `sockets` connections open. */
export const keepAlive = (sockets: number) => new Agent({ keepAlive: true, maxSockets: sockets })
