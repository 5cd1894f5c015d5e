/**
 * A tree's telemetry through Effect's own OTLP exporter (`Otlp.layerJson`),
 * received by a small OTLP/HTTP receiver on a loopback port: what a collector
 * (an OpenTelemetry Collector, Jaeger, Grafana's Alloy) would get.
 */
import { describe, expect, it } from "@effect/vitest"
import { Toplevel } from "@arbor/core"
import { Effect, Layer, Metric } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp } from "effect/observability"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { eventually, flat, launch, Probe, shutdown } from "./helpers.ts"

/** What a receiver got: the JSON body of every request, by path (`/v1/traces`, `/v1/metrics`, `/v1/logs`). */
type Received = Map<string, Array<any>>

/** An OTLP/HTTP JSON receiver on a free loopback port, for the scope's lifetime. */
const receiver = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly received: Received; readonly close: () => void }>((resume) => {
    const received: Received = new Map()
    const server = createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => (body += chunk))
      request.on("end", () => {
        const bodies = received.get(request.url!) ?? []
        bodies.push(JSON.parse(body))
        received.set(request.url!, bodies)
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        received,
        close: () => server.close()
      })))
  }),
  (receiver) => Effect.sync(receiver.close)
)

const spanNames = (received: Received): Set<string> =>
  new Set((received.get("/v1/traces") ?? []).flatMap((body) =>
    body.resourceSpans.flatMap((resource: any) => resource.scopeSpans.flatMap((scope: any) => scope.spans.map((span: any) => span.name)))
  ))

const metricNames = (received: Received): Set<string> =>
  new Set((received.get("/v1/metrics") ?? []).flatMap((body) =>
    body.resourceMetrics.flatMap((resource: any) => resource.scopeMetrics.flatMap((scope: any) => scope.metrics.map((metric: any) => metric.name)))
  ))

const logLines = (received: Received): Array<string> =>
  (received.get("/v1/logs") ?? []).flatMap((body) =>
    body.resourceLogs.flatMap((resource: any) => resource.scopeLogs.flatMap((scope: any) => scope.logRecords.map((record: any) => record.body.stringValue)))
  )

describe("OTLP export", () => {
  it.live("a running tree's arbor.* spans, arbor_* metrics and lifecycle log lines reach an OTLP/HTTP receiver", () =>
    Effect.gen(function*() {
      const { url, received } = yield* receiver
      const probe = new Probe()
      const toplevel = Toplevel.make("app", flat(probe, ["a", "b"]), { strategy: "one_for_one" })
      const otlp = Otlp.layerJson({
        baseUrl: url,
        resource: { serviceName: "arbor-test" },
        metricsExportInterval: "100 millis",
        tracerExportInterval: "100 millis",
        loggerExportInterval: "100 millis"
      }).pipe(Layer.provide(FetchHttpClient.layer))
      yield* Effect.gen(function*() {
        const run = yield* launch(toplevel)
        yield* eventually(() => probe.startsOf("b") === 1, "started")
        yield* probe.crash("b")
        yield* eventually(() => probe.startsOf("b") === 2, "restarted")
        // Exported while the tree runs, on the exporters' own schedule: no flush needed for these.
        yield* Effect.promise(() => waitFor(() => metricNames(received).has("arbor_child_restarts_total")))
        yield* shutdown(toplevel, run)
      }).pipe(Effect.provide(otlp), Effect.provideService(Metric.MetricRegistry, new Map()))

      // Closing the exporter's layer flushed the rest: the shutdown's spans and lines too.
      expect([...spanNames(received)].filter((name) => name.startsWith("arbor.")).sort()).toEqual([
        "arbor.child.startup",
        "arbor.child.stop",
        "arbor.system.restart",
        "arbor.system.shutdown",
        "arbor.toplevel.start"
      ])
      const metrics = metricNames(received)
      for (const name of ["arbor_children", "arbor_child_restarts_total", "arbor_child_startup_seconds"]) {
        expect(metrics.has(name), name).toBe(true)
      }
      expect(logLines(received)).toContain("app: shutdown complete")
      expect(logLines(received)).toContain("app/b: exited abnormally (failure); restarting (permanent)")
      const [traces] = received.get("/v1/traces")!
      expect(traces.resourceSpans[0].resource.attributes).toContainEqual({ key: "service.name", value: { stringValue: "arbor-test" } })
    }))
})

/** Resolves once `done` holds, checking every 50 ms; rejects after 15 seconds. */
const waitFor = (done: () => boolean): Promise<void> =>
  new Promise((resolve, reject) => {
    const deadline = Date.now() + 15_000
    const check = () => {
      if (done()) return resolve()
      if (Date.now() > deadline) return reject(new Error("the receiver never got it"))
      setTimeout(check, 50)
    }
    check()
  })
