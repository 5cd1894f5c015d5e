/**
 * The sink: where the spool delivers to. A small HTTP endpoint on loopback
 * standing for the next hop (a mailbox, a downstream service). It takes
 * batches (`POST /deliver`, a JSON array of stored messages) and is
 * idempotent by message id: a message delivered again after a crash (the
 * spool was killed between the sink's answer and the removal of the
 * message) is acknowledged and not counted twice.
 *
 * The spool runs one as its own child unless `SPOOL_SINK_URL` names another;
 * the tests, the load script and the fault drill run their own, to count
 * what arrived across restarts of the spool.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

export interface Sink {
  readonly url: string
  /** How many times each message id arrived (more than once: redelivered). */
  readonly arrivals: Map<number, number>
  /** How many distinct messages arrived. */
  readonly delivered: () => number
  /** How many arrivals were redeliveries. */
  readonly redelivered: () => number
  /** Makes each batch wait this long before the sink answers (a slow next hop). */
  delay: number
  close(): Promise<void>
}

export const startSink = (
  options: { readonly port?: number; readonly onBatch?: (count: number, first: number, last: number) => void } = {}
): Promise<Sink> =>
  new Promise((resolve, reject) => {
    const arrivals = new Map<number, number>()
    let redelivered = 0
    const server = createServer((request, response) => {
      if (request.method !== "POST" || request.url !== "/deliver") {
        response.writeHead(404).end()
        return
      }
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        let batch: Array<{ readonly id: number }>
        try {
          batch = JSON.parse(Buffer.concat(chunks).toString("utf8"))
        } catch {
          response.writeHead(400).end("malformed batch")
          return
        }
        const answer = () => {
          let duplicates = 0
          for (const { id } of batch) {
            const seen = arrivals.get(id) ?? 0
            if (seen > 0) duplicates++
            arrivals.set(id, seen + 1)
          }
          redelivered += duplicates
          if (batch.length > 0) options.onBatch?.(batch.length, batch[0]!.id, batch[batch.length - 1]!.id)
          response.writeHead(200, { "content-type": "application/json" })
          response.end(JSON.stringify({ accepted: batch.length - duplicates, duplicates }))
        }
        if (sink.delay > 0) setTimeout(answer, sink.delay)
        else answer()
      })
    })
    const sink: Sink = {
      url: "",
      arrivals,
      delivered: () => arrivals.size,
      redelivered: () => redelivered,
      delay: 0,
      close: () =>
        new Promise((done) => {
          server.close(() => done())
          server.closeAllConnections()
        })
    }
    server.on("error", reject)
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve(Object.assign(sink, { url: `http://127.0.0.1:${port}` }))
    })
  })
