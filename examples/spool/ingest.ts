/**
 * The ingest: `POST /messages` with a JSON body `{ "to": "...", "body": "..." }`.
 *
 * | answer | when                                                                          |
 * |--------|-------------------------------------------------------------------------------|
 * | 202    | the message is durable (its commit is done): `{ "id": 17 }`                    |
 * | 400    | the body is not a message (`reason` says what is wrong); `x-deadline-ms` is not a number |
 * | 413    | the message is larger than `SPOOL_MAX_MESSAGE_BYTES`                            |
 * | 415    | the content type is missing or not `application/json`                          |
 * | 429    | the store kept answering busy until the caller's deadline (`x-deadline-ms`)    |
 * | 503    | the store's health gate is latched, or the store failed or was too slow       |
 *
 * 429 and 503 carry `Retry-After`. A rejected message leaves nothing behind.
 */
import { Backpressure, type HealthGate, Lifecycle, MainLoop } from "@arbor/core"
import { NodeHttpServer } from "@effect/platform-node"
import { ByteSize, Cause, Clock, Context, type Duration, Effect, Exit, Layer, Metric, Schema } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServer, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
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

const answer = (status: number, body: object, headers: Record<string, string> = {}) =>
  HttpServerResponse.jsonUnsafe(body, { status, headers })

const reject = (status: number, reason: string) => answer(status, { error: reason })

const retryLater = (status: number, reason: string, seconds: number) =>
  answer(status, { error: reason }, { "retry-after": String(Math.max(1, Math.ceil(seconds))) })

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

export const ingest = (store: Store, gate: HealthGate.HealthGate, options: IngestOptions) =>
  Effect.gen(function*() {
    const writes = yield* Backpressure.make({
      busy: (error: StoreFailed | { readonly _tag: "StoreBusy" }) => error._tag === "StoreBusy",
      timeout: options.writeTimeout,
      gate
    })

    const storeMessage = (request: HttpServerRequest.HttpServerRequest, text: string) =>
      Effect.gen(function*() {
        const message = decodeMessage(text)
        if (Exit.isFailure(message)) return reject(400, `malformed message: ${issue(message.cause)}`)
        if (options.baseline) return answer(202, { id: 0 })
        const now = yield* Clock.currentTimeMillis
        const deadline = deadlineOf(request.headers["x-deadline-ms"], now)
        if (deadline === "bad") return reject(400, "x-deadline-ms must be a positive number of milliseconds")
        // Stored as checked: written again from the decoded value, so the store and the check cannot disagree.
        const json = JSON.stringify(message.value)
        const id = yield* writes.retry(store.append(json), deadline === undefined ? undefined : { deadline })
        yield* gate.recordSuccess
        yield* Metric.update(accepted, 1)
        return answer(202, { id })
      })

    const accept = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        if (!/^application\/json\b/i.test(request.headers["content-type"] ?? "")) {
          return reject(415, "the content type must be application/json")
        }
        if (Number(request.headers["content-length"]) > options.maxMessageBytes) {
          return reject(413, `a message may have at most ${options.maxMessageBytes} bytes`)
        }
        return yield* storeMessage(request, yield* request.text)
      }).pipe(
        Effect.catchTags({
          Unhealthy: (error) =>
            Effect.map(Clock.currentTimeMillis, (now) =>
              retryLater(503, `not accepting: ${error.message}`, (error.since + options.unlatchAfter - now) / 1000)),
          DeadlineExceeded: (error) => Effect.succeed(retryLater(429, `the store is busy: ${error.message}`, 1)),
          TimedOut: (error) => Effect.succeed(retryLater(503, `the store is too slow: ${error.message}`, 1)),
          StoreFailed: (error) => Effect.as(gate.record(error), retryLater(503, `the store failed: ${error.message}`, 1)),
          HttpServerError: (error) => {
            const tooLarge = error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
            return Effect.succeed(tooLarge
              ? reject(413, `a message may have at most ${options.maxMessageBytes} bytes`)
              : reject(400, `unreadable body: ${error.message}`))
          }
        }),
        Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(options.maxMessageBytes))
      )

    // Once settling, each answer closes its connection: an idle keep-alive connection would hold the close up.
    const lifecycle = yield* Lifecycle.Lifecycle
    const closeWhenSettling = HttpRouter.middleware((app) =>
      Effect.flatMap(app, (response) =>
        Effect.map(lifecycle.isSettling, (settling) =>
          settling ? HttpServerResponse.setHeader(response, "connection", "close") : response)), { global: true })
    const routes = Layer.mergeAll(closeWhenSettling, HttpRouter.add("POST", "/messages", accept))
    const listen = { port: options.port, host: options.host, gracefulShutdownTimeout: options.shutdownBudget }
    const server = HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true })
      .pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, listen)))
    // Built in the child's scope: asked to settle, the main loop returns and the server closes: it stops accepting and
    // answers the requests in flight (their messages are committed: the store stops after the ingest).
    const { address } = Context.get(yield* Layer.build(server), HttpServer.HttpServer)
    yield* Effect.log(`ingest listening on ${HttpServer.formatAddress(address)}${options.baseline ? " (baseline: not storing)" : ""}`)
    return yield* MainLoop.run(Lifecycle.settling)
  })
