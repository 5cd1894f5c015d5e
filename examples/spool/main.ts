/**
 * Spool: a durable message spool whose store is watched by a health gate.
 *
 * Clients post messages; each is answered 202 only once it is on disk
 * (SQLite, group commit). A delivery pool drains the spool to a sink. When
 * the store goes bad (disk full, an I/O error), the gate latches: ingest
 * answers 503 at once with Retry-After, `/readyz` says why, and nothing
 * already accepted is lost; once the store has been quiet for
 * SPOOL_UNLATCH_AFTER, the gate clears by itself. See docs/health.md for
 * the tree, the settings and a walkthrough.
 *
 *   npm run example:spool
 *   curl -si -H 'content-type: application/json' -d '{"to":"ada@example.org","body":"hello"}' localhost:8025/messages
 *   curl -si localhost:9464/readyz
 */
import { Toplevel } from "@arbor/core"
import { NodeObserver, NodeToplevel } from "@arbor/node"
import { Spool } from "./spool.ts"

const toplevel = Toplevel.make("spool", new Spool(), { strategy: "rest_for_one", intensity: { maxRestarts: 5, within: "1 minute" } })
const observer = NodeObserver.layer(toplevel, { port: Number(process.env["ARBOR_OBSERVER_PORT"] ?? NodeObserver.defaultPort) })

NodeToplevel.runMain(toplevel, { layer: observer })
