import type { Toplevel } from "@arbor/core"
import * as Effect from "effect/Effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { createHash, timingSafeEqual } from "node:crypto"

/** The control actions the observer offers. */
export type Action = Toplevel.ControlRequest["action"]

const digest = (text: string): Buffer => createHash("sha256").update(text).digest()

/**
 * Who a request's `Authorization: Bearer <token>` header says it is: the
 * name of the configured token it presents, or `undefined`. Tokens are
 * compared as SHA-256 digests in constant time, all of them, so the time
 * taken tells nothing about a token.
 */
export const bearer = (tokens: Readonly<Record<string, string>>) => {
  const known = Object.entries(tokens).map(([name, token]) => [name, digest(token)] as const)
  return (authorization: string | undefined): string | undefined => {
    const presented = /^Bearer +(\S+) *$/i.exec(authorization ?? "")?.[1]
    if (presented === undefined) return undefined
    const hash = digest(presented)
    let who: string | undefined
    for (const [name, token] of known) if (timingSafeEqual(token, hash) && who === undefined) who = name
    return who
  }
}

const reply = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  HttpServerResponse.jsonUnsafe(body, { status, headers: { "cache-control": "no-store", ...headers } })

/** Why an action failed, as an HTTP status: unknown path 404, running child 409, anything else (a failed restart) 500. */
const statusOf = (error: { readonly _tag: string }): number =>
  error._tag === "NotFound" ? 404 : error._tag === "Running" ? 409 : error._tag === "InvalidOptions" ? 400 : 500

/**
 * The handler of `POST /control/<action>?path=...`. Without control tokens
 * every request is refused (403); without a valid one, 401: in both cases
 * nothing is done, and the refusal is logged. A request that presents one is
 * announced as a `ControlRequested` event naming the token, then carried out;
 * its outcome is logged too.
 */
export const control = <R>(
  toplevel: Toplevel.Toplevel<R>,
  action: Action,
  identify: ((authorization: string | undefined) => string | undefined) | undefined
) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const params = yield* HttpServerRequest.ParsedSearchParams
    const given = params["path"]
    const path = action === "shutdown" ? toplevel.name : typeof given === "string" ? given : undefined
    const what = action === "shutdown" ? "shutdown" : `${action} ${path ?? "(no path)"}`
    if (identify === undefined) {
      yield* Effect.logWarning(`observer: refused ${what}: control actions are off (no control tokens)`)
      return reply(403, { error: "control actions are off: the observer has no control tokens" })
    }
    const by = identify(request.headers["authorization"])
    if (by === undefined) {
      yield* Effect.logWarning(`observer: refused ${what}: no valid control token`)
      return reply(401, { error: "a valid control token is needed: Authorization: Bearer <token>" }, {
        "www-authenticate": "Bearer realm=\"arbor\""
      })
    }
    if (path === undefined) return reply(400, { error: "which child? ?path=<its path>" })
    yield* toplevel.reportControl({ action, path, by })
    const done = action === "shutdown"
      ? Effect.sync(() => toplevel.shutdownToken.signal())
      : action === "terminate"
      ? toplevel.terminateChild(path)
      : toplevel.restartChild(path)
    return yield* done.pipe(
      Effect.as(reply(action === "shutdown" ? 202 : 200, { ok: true, action, path, by })),
      Effect.catch((error) =>
        Effect.as(
          Effect.logWarning(`observer: ${what} asked by ${by} failed: ${error.message}`),
          reply(statusOf(error), { error: error.message, action, path, by })
        )
      )
    )
  })
