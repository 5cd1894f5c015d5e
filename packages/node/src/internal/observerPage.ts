import * as Effect from "effect/Effect"
import { HttpServerResponse } from "effect/http"
import { readFile } from "node:fs/promises"

/**
 * The observer's page, built from `packages/node/ui` into `dist/observer.html`
 * (one file: its script and styles are inlined). This module is
 * `src/internal/observerPage.ts` in the repository and
 * `dist/internal/observerPage.js` in the package: from either, the package's
 * `dist/` is two levels up.
 */
const pageUrl = new URL("../../dist/observer.html", import.meta.url)

const notBuilt = [
  "The observer's page is not built.",
  "In the Arbor repository, build it with: npm run build:ui",
  ""
].join("\n")

/**
 * The page as a response (a 503 saying how to build it when it is missing).
 * Only loopback or a token-protected proxy should reach it, but it may not be
 * framed by another site either: its buttons act on the tree.
 */
export const loadPage: Effect.Effect<HttpServerResponse.HttpServerResponse> = Effect.match(
  Effect.tryPromise(() => readFile(pageUrl, "utf8")),
  {
    onFailure: () => HttpServerResponse.text(notBuilt, { status: 503, headers: { "cache-control": "no-store" } }),
    onSuccess: (html) =>
      HttpServerResponse.text(html, {
        contentType: "text/html; charset=utf-8",
        headers: {
          "cache-control": "no-store",
          "x-frame-options": "DENY",
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer"
        }
      })
  }
)
