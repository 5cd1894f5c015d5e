/**
 * examples/http as a real process on loopback: two HTTP children, one on
 * effect/http, one on node:http through a ChildRuntime. Both stop accepting
 * when asked to settle, finish their requests in flight, and listen on the
 * same port again after a restart.
 */
import { describe, expect, it } from "@effect/vitest"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { run } from "../packages/node/test/process.ts"

const script = fileURLToPath(new URL("./http/main.ts", import.meta.url))

/** A port nobody listens on now (the example needs fixed ports, to show that a restart binds the same one). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer().once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

const get = async (port: number, path: string) => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`)
  return `${response.status} ${await response.text()}`
}

/** Resolves once a new connection to `port` is refused: the server stopped accepting. */
const refused = async (port: number, timeoutMs = 10_000) => {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const error = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" } }).then(() => undefined, (e: Error) => e)
    if (error !== undefined) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`port ${port} still accepted connections after ${timeoutMs} ms`)
}

const start = async () => {
  const ports = { effect: await freePort(), node: await freePort() }
  const program = run(script, [], { EFFECT_API_PORT: String(ports.effect), NODE_API_PORT: String(ports.node) })
  await program.waitFor(`http/web/node-api: listening on http://127.0.0.1:${ports.node}`)
  expect(program.output()).toContain(`http/web/effect-api: listening on http://127.0.0.1:${ports.effect}`)
  return { program, ports }
}

describe("examples/http", () => {
  it("both servers finish their requests in flight on Ctrl-C, refusing new connections meanwhile, and exit 0", async () => {
    const { ports, program } = await start()
    expect(await get(ports.effect, "/")).toBe("200 hello from http/web/effect-api\n")
    expect(await get(ports.node, "/")).toBe("200 hello from http/web/node-api\n")
    const inFlight = [get(ports.effect, "/slow/1500"), get(ports.node, "/slow/1500")]
    await new Promise((resolve) => setTimeout(resolve, 300))
    program.child.kill("SIGINT")
    // node-api, declared last, settles first: it stops accepting while its request is still in flight.
    await refused(ports.node)
    expect(await Promise.all(inFlight)).toEqual(["200 done after 1500 ms\n", "200 done after 1500 ms\n"])
    expect(await program.exited()).toBe(0)
    expect(program.output()).toContain("http: shutdown complete")
  }, 60_000)

  it("a handler that fails crashes node-api; both restart, the settled sibling finishes its request first, same ports", async () => {
    const { ports, program } = await start()
    const inFlight = get(ports.effect, "/slow/2000")
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await get(ports.node, "/crash")).toBe("500 crashing\n")
    await program.waitFor("http/web/node-api: exited abnormally (failure); restarting (permanent)")
    // one_for_all: effect-api is asked to settle; it stops accepting but answers the request it holds.
    await refused(ports.effect)
    expect(await inFlight).toBe("200 done after 2000 ms\n")
    await program.waitFor(/node-api: listening[\s\S]*node-api: listening/)
    expect(await get(ports.effect, "/")).toBe("200 hello from http/web/effect-api\n")
    expect(await get(ports.node, "/")).toBe("200 hello from http/web/node-api\n")
    program.child.kill("SIGINT")
    expect(await program.exited()).toBe(0)
  }, 60_000)
})
