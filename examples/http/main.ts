/**
 * HTTP servers as children: the same small API served twice, once on Effect's
 * own HTTP server and once on `node:http`.
 *
 *   http                      toplevel
 *   └── web                   subsystem, one_for_all
 *       ├── effect-api        effect/http + NodeHttpServer
 *       └── node-api          node:http, its handlers run through a ChildRuntime
 *
 * Both answer `GET /` and `GET /slow/:ms` (answers after that many
 * milliseconds); `node-api` also has `GET /crash`, whose handler fails and,
 * with `onFailure: "crash"`, crashes its child. `web` then restarts both
 * (one_for_all): each stops accepting, finishes its requests in flight, and
 * listens on its port again. On Ctrl-C the same happens, without the restart.
 *
 *   npm run example:http               (ports 8081 and 8082)
 *   EFFECT_API_PORT=9001 NODE_API_PORT=9002 npm run example:http
 *   curl localhost:8082/slow/3000 & sleep 0.5; curl localhost:8082/crash
 */
import { ChildRuntime, Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { NodeToplevel } from "@arbor/node"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"

const host = "127.0.0.1"
/** How long a child has to finish its requests in flight once asked to settle. */
const budget = "5 seconds"

/** Answers after `ms` milliseconds (at most 10 s): a request still in flight when the child is asked to settle. */
const slow = (ms: number) => Effect.as(Effect.sleep(Math.min(Math.max(ms, 0), 10_000)), `done after ${ms} ms\n`)

/**
 * Effect's own HTTP server, built in the child's scope. When the child is
 * asked to settle its main loop returns; closing its scope closes the server:
 * it stops accepting at once and lets the requests in flight finish, for up to
 * `gracefulShutdownTimeout` (the child's budget), then interrupts them. Answers
 * given meanwhile close their connection: an idle keep-alive connection would
 * hold the close up until the client drops it.
 */
const effectApi = (port: number) =>
  Effect.gen(function*() {
    const lifecycle = yield* Lifecycle.Lifecycle
    const closeWhenSettling = HttpRouter.middleware((app) =>
      Effect.flatMap(app, (response) =>
        Effect.map(lifecycle.isSettling, (settling) =>
          settling ? HttpServerResponse.setHeader(response, "connection", "close") : response)), { global: true })
    const routes = Layer.mergeAll(
      closeWhenSettling,
      HttpRouter.add("GET", "/", HttpServerResponse.text(`hello from ${lifecycle.path}\n`)),
      HttpRouter.add("GET", "/slow/:ms", Effect.flatMap(HttpRouter.params, (params) =>
        Effect.map(slow(Number(params["ms"])), (body) => HttpServerResponse.text(body))))
    )
    const server = NodeHttpServer.layer(createServer, { port, host, gracefulShutdownTimeout: budget })
    yield* Layer.build(HttpRouter.serve(routes, { disableListenLog: true, disableLogger: true }).pipe(Layer.provide(server)))
    yield* Effect.log(`${lifecycle.path}: listening on http://${host}:${port}`)
    return yield* MainLoop.run(Lifecycle.settling)
  })

/** Writes a plain-text answer. */
const reply = (response: ServerResponse, status: number, body: string) =>
  Effect.sync(() => response.writeHead(status, { "content-type": "text/plain" }).end(body))

/**
 * `node:http`, its handlers run as the child's own fibers through a
 * `ChildRuntime`: they see the child's services, stop with the child, and a
 * handler that fails crashes it (`onFailure: "crash"`). Asked to settle, the
 * main loop stops accepting and waits for the handlers in flight; its budget
 * bounds that wait, then they are interrupted and the connections closed.
 */
const nodeApi = (port: number) =>
  Effect.gen(function*() {
    const { path } = yield* Lifecycle.Lifecycle
    const runtime = yield* ChildRuntime.make({ onFailure: "crash" })
    const handle = (request: IncomingMessage, response: ServerResponse) => {
      const url = request.url ?? "/"
      const delay = /^\/slow\/(\d+)$/.exec(url)
      if (url === "/") return reply(response, 200, `hello from ${path}\n`)
      if (delay !== null) return Effect.flatMap(slow(Number(delay[1])), (body) => reply(response, 200, body))
      if (url === "/crash") return Effect.andThen(reply(response, 500, "crashing\n"), Effect.fail(new Error(`${url} was asked for`)))
      return reply(response, 404, "not found\n")
    }
    const server = createServer((request, response) => void runtime.runFork(handle(request, response)))
    yield* Effect.acquireRelease(
      Effect.callback<void, Error>((resume) => {
        server.once("error", (error) => resume(Effect.fail(error)))
        server.listen(port, host, () => resume(Effect.void))
      }),
      // Also after a crash: the port is free again for the next start.
      () => Effect.sync(() => server.close().closeAllConnections())
    )
    yield* Effect.log(`${path}: listening on http://${host}:${port}`)
    return yield* MainLoop.run(Effect.gen(function*() {
      yield* Lifecycle.settling
      server.close()
      yield* runtime.awaitEmpty
    }))
  })

class Web extends System.System {
  start(scope: System.Scope) {
    return Effect.gen(function*() {
      yield* scope.child("effect-api", effectApi(Number(process.env["EFFECT_API_PORT"] ?? 8081)), { shutdown: budget })
      yield* scope.child("node-api", nodeApi(Number(process.env["NODE_API_PORT"] ?? 8082)), { shutdown: budget })
    })
  }
}

const toplevel = Toplevel.make("http", System.make((scope) => scope.system("web", new Web())))

NodeToplevel.runMain(toplevel, { hardDeadline: "20 seconds" })
