/**
 * The ingest: `POST /messages` with a JSON body `{ "to": "...", "body": "..." }`.
 *
 * | answer | when                                                                          |
 * |--------|-------------------------------------------------------------------------------|
 * | 202    | the message is durable (its commit is done): `{ "id": 17 }`                    |
 * | 400    | the body is not a message (`reason` says what is wrong); `x-deadline-ms` is not a number |
 * | 404    | anything but `POST /messages`                                                 |
 * | 413    | the message is larger than `SPOOL_MAX_MESSAGE_BYTES`                            |
 * | 415    | the content type is missing or not `application/json`                          |
 * | 429    | the store kept answering busy until the caller's deadline (`x-deadline-ms`)    |
 * | 503    | the store's health gate is latched, or the store failed or was too slow       |
 *
 * 429 and 503 carry `Retry-After`. A rejected message leaves nothing behind.
 *
 * The server is Node's own `node:http`, each request handled by a fiber of
 * the child's `ChildRuntime`: it sees the child's services, and it is the
 * child's, so the child's stop waits for it (within the budget) and then
 * interrupts it. The server's CPU per request is about half what it was
 * through `effect/http`'s router (measured with `npm run spool:load`), which
 * matters at 5,000 durable messages a second on two cores (docs/health.md,
 * "Load").
 */
import { Backpressure, ChildRuntime, type HealthGate, Lifecycle, MainLoop } from "@arbor/core"
import { Cause, Clock, Data, type Duration, Effect, Exit, Metric, Schema } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { Store, StoreFailed } from "./store.ts"

export interface IngestOptions {
  readonly port: number
  readonly host: string
  readonly maxMessageBytes: number
  /** The store's own deadline for one write (busy retries included). */
  readonly writeTimeout: number
  /** How long a latched gate stays latched at least: the Retry-After of a 503. */
  readonly unlatchAfter: number
  /** Answer 202 without storing: the same server, for the load script's baseline. */
  readonly baseline: boolean
  /** How long the requests in flight may take to finish when the ingest stops: the child's `shutdown` budget. */
  readonly shutdownBudget: Duration.Duration
}

/** `spool_messages_accepted_total`: messages answered 202. */
export const accepted = Metric.counter("spool_messages_accepted_total", {
  description: "Messages answered 202 (durable)",
  incremental: true
})

const Message = Schema.Struct({
  to: Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(320)),
  body: Schema.String
})
const decodeMessage = Schema.decodeUnknownExit(Schema.fromJsonString(Message), { onExcessProperty: "error" })

interface Answer {
  readonly status: number
  readonly body: object
  readonly retryAfter?: number
}

const reject = (status: number, reason: string): Answer => ({ status, body: { error: reason } })

const retryLater = (status: number, reason: string, seconds: number): Answer => ({
  status,
  body: { error: reason },
  retryAfter: Math.max(1, Math.ceil(seconds))
})

/** What is wrong with a body, on one line. */
const issue = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ")
}

/** The caller's deadline from `x-deadline-ms` (milliseconds from now), if it sent one. */
const deadlineOf = (header: string | undefined, now: number): number | undefined | "bad" => {
  if (header === undefined) return undefined
  const millis = Number(header)
  return Number.isFinite(millis) && millis > 0 ? now + millis : "bad"
}

class BodyTooLarge extends Data.TaggedError("BodyTooLarge") {}

class BodyUnreadable extends Data.TaggedError("BodyUnreadable")<{ readonly reason: string }> {}

/** The request's body as text, at most `limit` bytes (the rest is not read: the answer closes the connection). */
const readBody = (request: IncomingMessage, limit: number) =>
  Effect.callback<string, BodyTooLarge | BodyUnreadable>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= limit) return void chunks.push(chunk)
      request.off("data", onData)
      resume(Effect.fail(new BodyTooLarge()))
    }
    request.on("data", onData)
    request.once("end", () => resume(Effect.succeed(Buffer.concat(chunks, size).toString())))
    request.once("error", (error) => resume(Effect.fail(new BodyUnreadable({ reason: error.message }))))
  })

export const ingest = (store: Store, gate: HealthGate.HealthGate, options: IngestOptions) =>
  Effect.gen(function*() {
    const writes = yield* Backpressure.make({
      busy: (error: StoreFailed | { readonly _tag: "StoreBusy" }) => error._tag === "StoreBusy",
      timeout: options.writeTimeout,
      gate
    })
    const lifecycle = yield* Lifecycle.Lifecycle
    const runtime = yield* ChildRuntime.make()
    const tooLarge = reject(413, `a message may have at most ${options.maxMessageBytes} bytes`)

    const storeMessage = (request: IncomingMessage, text: string) =>
      Effect.gen(function*() {
        const message = decodeMessage(text)
        if (Exit.isFailure(message)) return reject(400, `malformed message: ${issue(message.cause)}`)
        if (options.baseline) return { status: 202, body: { id: 0 } }
        const now = yield* Clock.currentTimeMillis
        const deadline = deadlineOf(request.headers["x-deadline-ms"] as string | undefined, now)
        if (deadline === "bad") return reject(400, "x-deadline-ms must be a positive number of milliseconds")
        // Stored as checked: written again from the decoded value, so the store and the check cannot disagree.
        const json = JSON.stringify(message.value)
        const id = yield* writes.retry(store.append(json), deadline === undefined ? undefined : { deadline })
        yield* gate.recordSuccess
        yield* Metric.update(accepted, 1)
        return { status: 202, body: { id } }
      })

    const accept = (request: IncomingMessage): Effect.Effect<Answer> => {
      if (request.method !== "POST" || request.url !== "/messages") return Effect.succeed(reject(404, "not found"))
      if (!/^application\/json\b/i.test(request.headers["content-type"] ?? "")) {
        return Effect.succeed(reject(415, "the content type must be application/json"))
      }
      if (Number(request.headers["content-length"]) > options.maxMessageBytes) return Effect.succeed(tooLarge)
      return readBody(request, options.maxMessageBytes).pipe(
        Effect.flatMap((text) => storeMessage(request, text)),
        Effect.catchTags({
          BodyTooLarge: () => Effect.succeed(tooLarge),
          BodyUnreadable: (error) => Effect.succeed(reject(400, `unreadable body: ${error.reason}`)),
          Unhealthy: (error) =>
            Effect.map(Clock.currentTimeMillis, (now) =>
              retryLater(503, `not accepting: ${error.message}`, (error.since + options.unlatchAfter - now) / 1000)),
          DeadlineExceeded: (error) => Effect.succeed(retryLater(429, `the store is busy: ${error.message}`, 1)),
          // Not past the store's own timeout (it always has one), but the type cannot know that.
          StoreBusy: () => Effect.succeed(retryLater(503, "the store is busy", 1)),
          TimedOut: (error) => Effect.succeed(retryLater(503, `the store is too slow: ${error.message}`, 1)),
          StoreFailed: (error) => Effect.as(gate.record(error), retryLater(503, `the store failed: ${error.message}`, 1))
        })
      )
    }

    let settling = false
    const respond = (request: IncomingMessage, response: ServerResponse, answer: Answer) => {
      const body = JSON.stringify(answer.body)
      const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
      if (answer.retryAfter !== undefined) headers["retry-after"] = answer.retryAfter
      // Once settling, each answer closes its connection (an idle keep-alive connection would hold the close up),
      // and so does a refusal whose body was not read to its end.
      if (settling || !request.complete) headers["connection"] = "close"
      response.writeHead(answer.status, headers).end(body)
    }

    const server = createServer((request, response) =>
      void runtime.runFork(Effect.map(accept(request), (answer) => respond(request, response, answer))))
    const address = yield* Effect.acquireRelease(
      Effect.callback<AddressInfo, Error>((resume) => {
        server.once("error", (error) => resume(Effect.fail(error)))
        server.listen(options.port, options.host, () => resume(Effect.succeed(server.address() as AddressInfo)))
      }),
      // Also after a crash: the port is free again for the next start.
      () => Effect.sync(() => server.close().closeAllConnections())
    )
    yield* Effect.log(`ingest listening on http://${address.address}:${address.port}${options.baseline ? " (baseline: not storing)" : ""}`)
    // Asked to settle: stop accepting connections, close the idle ones, and answer the requests in flight (their
    // messages are committed: the store stops after the ingest). The child's budget bounds the wait.
    return yield* MainLoop.run(Effect.gen(function*() {
      yield* lifecycle.settling
      settling = true
      server.close().closeIdleConnections()
      yield* runtime.awaitEmpty
    }))
  })
