/**
 * The web observer in a real browser: Debian's Chromium, driven by
 * Playwright (`playwright-core`: no browser download), against real
 * processes. Chromium is installed by `scripts/chromium.ts` on first use (as
 * root, with apt); if it cannot be, these tests fail saying what to install.
 *
 * - The flagship (`examples/crashy`), served behind a path prefix by a small
 *   reverse proxy: the tree renders, a crash shows up within a second, the
 *   event filter works, control actions need the token, and the page sees the
 *   tree's last event when it stops.
 * - A pool of 10,000 children restarting 100 times a second: the figures
 *   (time to first render, frame times) are measured and written to
 *   `test-artifacts/observer/figures.json` (docs/observer.md quotes them);
 *   then a stall with its stack, and a health gate latching.
 *
 * Screenshots go to `test-artifacts/observer/` (not committed). Waits are
 * generous (two noisy cores): the assertions check behaviour, and the bounds
 * on time are the issue's own (a second) or far above the measured figures.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import type { LifecycleEvent, TreeSnapshot } from "@arbor/core"
import { mkdirSync, writeFileSync } from "node:fs"
import { createServer, request, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { ensureChromium, launchOptions } from "../../../scripts/chromium.ts"
import { run } from "./process.ts"

const root = join(import.meta.dirname, "..", "..", "..")
const artifacts = join(root, "test-artifacts", "observer")
const token = "test-token-0123456789abcdef"

let browser: Browser

beforeAll(async () => {
  ensureChromium()
  browser = await chromium.launch(launchOptions)
  mkdirSync(artifacts, { recursive: true })
}, 600_000)

afterAll(async () => {
  await browser?.close()
})

const observerUrl = (output: string): string => /observer listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!

/** A reverse proxy serving `target` under `prefix`, as nginx's `location /arbor/ { proxy_pass http://target/; }` would. */
const proxy = async (target: string, prefix: string): Promise<{ readonly url: string; readonly server: Server }> => {
  const server = createServer((incoming, outgoing) => {
    if (!incoming.url!.startsWith(`${prefix}/`)) return void outgoing.writeHead(404).end()
    const upstream = request(`${target}${incoming.url!.slice(prefix.length)}`, { method: incoming.method, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode!, answer.headers)
      answer.pipe(outgoing)
    })
    upstream.on("error", () => outgoing.destroy())
    outgoing.on("close", () => upstream.destroy())
    incoming.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}/`, server }
}

/** Numbered lifecycle events read from `/events` as they arrive, with the server's times. */
const recordEvents = (url: string) => {
  const events: Array<LifecycleEvent.LifecycleEvent> = []
  const controller = new AbortController()
  const reading = fetch(`${url}/events`, { signal: controller.signal }).then(async (response) => {
    const decoder = new TextDecoder()
    let buffer = ""
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk, { stream: true })
      const frames = buffer.split("\n\n")
      buffer = frames.pop()!
      for (const frame of frames) {
        const data = frame.split("\n").find((line) => line.startsWith("data: "))
        if (data !== undefined && frame.includes("\nevent: ") && !frame.includes("event: Gap")) events.push(JSON.parse(data.slice(6)))
      }
    }
  }).catch(() => undefined)
  return { events, stop: () => (controller.abort(), reading) }
}

/** Until `predicate` holds, up to `timeoutMs`. */
const until = async (predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface RowChange {
  readonly path: string
  readonly state: string
  readonly restarts: number
  readonly at: number
}

/**
 * Records, with the browser's clock, every change of a tree row's state and
 * restart count. (Code run in the page reaches the DOM through `globalThis`:
 * the tests are typechecked without the DOM's types.)
 */
const watchRows = (page: Page) =>
  page.evaluate(() => {
    const { document, MutationObserver, Element } = globalThis as any
    const changes: Array<RowChange> = []
    const note = (row: any) =>
      changes.push({
        path: row.getAttribute("data-path")!,
        state: row.getAttribute("data-state")!,
        restarts: Number(row.getAttribute("data-restarts")),
        at: Date.now()
      })
    const tree = document.querySelector("[data-testid=tree]")!
    new MutationObserver((records: Array<any>) => {
      for (const record of records) {
        if (record.type === "attributes") note(record.target)
        for (const added of record.addedNodes) if (added instanceof Element && added.hasAttribute("data-state")) note(added)
      }
    }).observe(tree, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state", "data-restarts"] })
    ;(globalThis as any).rowChanges = changes
  })

const rowChanges = (page: Page): Promise<Array<RowChange>> => page.evaluate(() => (globalThis as any).rowChanges)

const shownRows = (page: Page, list: string) =>
  page.$$eval(`[data-testid=${list}] [role=listitem]`, (rows) =>
    rows.map((row) => ({ path: row.getAttribute("data-path"), tag: row.getAttribute("data-tag"), state: row.getAttribute("data-state") })))

describe("the web observer", () => {
  it("on the flagship behind a path prefix: renders the tree, shows a crash within a second, filters events, acts only with the token, sees the end", async () => {
    const program = run(join(root, "examples/crashy/main.ts"), [], {
      ARBOR_OBSERVER_PORT: "0",
      CRASHY_SEED: "7",
      CRASHY_FAILURE_RATE: "0.2",
      ARBOR_OBSERVER_TOKEN: token,
      ARBOR_OBSERVER_TOKEN_NAME: "test-operator"
    })
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
    const errors: Array<string> = []
    page.on("pageerror", (error) => errors.push(error.message))
    let proxied: Server | undefined
    try {
      await program.waitFor("observer listening on")
      const direct = observerUrl(program.output())
      const events = recordEvents(direct)
      const { url, server } = await proxy(direct, "/arbor")
      proxied = server

      // The tree renders, through the proxy.
      await page.goto(url)
      for (const path of ["shop", "shop/provider", "shop/books", "shop/payments", "shop/payments/ledger", "shop/payments/gateway", "shop/reporter"]) {
        await page.waitForSelector(`[data-testid=tree] [data-path="${path}"]`)
      }
      await page.waitForSelector("[data-testid=connection]:text('live')")
      await watchRows(page)
      const watched = Date.now()

      // The gateway's next crash shows up as a restart within a second.
      const crashed = () =>
        events.events.find((e): e is LifecycleEvent.ChildExited =>
          e._tag === "ChildExited" && e.path === "shop/payments/gateway" && e.decision === "restart" && e.at > watched)
      const restarted = () =>
        events.events.find((e): e is LifecycleEvent.ChildStarting =>
          e._tag === "ChildStarting" && e.path === "shop/payments/gateway" && e.at > crashed()!.at)
      await until(() => crashed() !== undefined && restarted() !== undefined, "the gateway to crash and restart", 60_000)
      await until(async () => (await rowChanges(page)).some((c) => c.path === "shop/payments/gateway" && c.restarts >= restarted()!.restarts), "the restart on the page")
      const changes = (await rowChanges(page)).filter((c) => c.path === "shop/payments/gateway")
      const crash = crashed()!
      const restart = restarted()!
      const shownCrash = changes.find((c) => c.at >= crash.at && c.state === "restarting")!
      const shownRestart = changes.find((c) => c.restarts >= restart.restarts)!
      expect(shownCrash.at - crash.at).toBeLessThan(1000)
      expect(shownRestart.at - restart.at).toBeLessThan(1000)
      const latency = { crash: shownCrash.at - crash.at, restart: shownRestart.at - restart.at }

      // The event filter: by path prefix, then by kind.
      await page.fill("[aria-label='filter by path prefix']", "shop/payments/gateway")
      await until(async () => {
        const rows = await shownRows(page, "events")
        return rows.length > 0 && rows.every((row) => row.path!.startsWith("shop/payments/gateway"))
      }, "the log to show only the gateway's events")
      await page.selectOption("[aria-label='filter by kind']", "ChildExited")
      await until(async () => {
        const rows = await shownRows(page, "events")
        return rows.length > 0 && rows.every((row) => row.tag === "ChildExited" && row.path!.startsWith("shop/payments/gateway"))
      }, "the log to show only the gateway's exits")
      await page.fill("[aria-label='filter by path prefix']", "")
      await page.selectOption("[aria-label='filter by kind']", "")

      // Scrolled back, the log holds still and counts what arrives meanwhile.
      await page.$eval("[data-testid=events]", (log) => (log.scrollTop = 0))
      await page.waitForSelector("[data-testid=resume]")
      const held = await shownRows(page, "events")
      await until(async () => /\d+ new event/.test(await page.textContent("[data-testid=resume]") ?? ""), "new events while paused")
      expect(await shownRows(page, "events")).toEqual(held)
      await page.click("[data-testid=resume]")
      await until(async () => (await page.$("[data-testid=resume]")) === null, "the log to follow again")

      // Control: refused without the token (nothing changes), done with it, and announced with the token's name.
      await page.click("[data-testid=tree] [data-path='shop/reporter']")
      await page.waitForSelector("[data-testid=detail][data-path='shop/reporter']")
      await page.click("[data-testid=terminate]")
      await page.waitForSelector("[data-testid=outcome]:text('refused (401)')")
      const reporter = async () =>
        ((await (await fetch(`${direct}/tree`)).json()) as TreeSnapshot.TreeSnapshot).root.children!.find((c) => c.name === "reporter")!
      expect((await reporter()).state).toBe("running")
      await page.fill("[data-testid=token]", token)
      await page.click("[data-testid=terminate]")
      await page.waitForSelector("[data-testid=outcome]:text('terminate shop/reporter: done')")
      await page.waitForSelector("[data-testid=tree] [data-path='shop/reporter'][data-state=stopped]")
      expect((await reporter()).state).toBe("stopped")
      await page.waitForSelector("[data-testid=events] [data-tag=ControlRequested][data-path='shop/reporter']")
      expect(await page.textContent("[data-testid=events] [data-tag=ControlRequested]")).toContain("terminate requested by test-operator")
      expect(program.output()).toContain("shop/reporter: terminate requested by test-operator")
      await page.click("[data-testid=restart]")
      await page.waitForSelector("[data-testid=tree] [data-path='shop/reporter'][data-state=running]")

      // The gateway's detail: its system's intensity window, its restarts.
      await page.click("[data-testid=tree] [data-path='shop/payments/gateway']")
      await page.waitForSelector("[data-testid='window-shop/payments']")
      expect(await page.textContent("[data-testid='window-shop/payments']")).toMatch(/restarted by shop\/payments: \d of 3 restarts in the last 10s, with backoff/)
      await page.screenshot({ path: join(artifacts, "flagship.png") })
      writeFileSync(join(artifacts, "flagship.json"), JSON.stringify({ latency }, null, 2))

      // Ctrl-C: the page sees the tree's last event.
      program.child.kill("SIGINT")
      expect(await program.exited()).toBe(0)
      await page.waitForSelector("[data-testid=connection]:text('the tree has stopped')")
      await page.waitForSelector("[data-testid=events] [data-tag=ShutdownCompleted][data-path=shop]")
      await events.stop()
      expect(errors).toEqual([])
    } finally {
      await page.close()
      proxied?.close()
      if (program.child.exitCode === null) program.child.kill("SIGKILL")
    }
  }, 180_000)

  it("keeps a pool of 10,000 children responsive while 100 of them restart each second, and measures it", async () => {
    const program = run(join(root, "packages/node/test/fixtures/bigTree.ts"), [], { BIG_CHILDREN: "10000", BIG_RESTARTS_PER_SECOND: "100" })
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
    const errors: Array<string> = []
    page.on("pageerror", (error) => errors.push(error.message))
    try {
      await program.waitFor("observer listening on", 60_000)
      const url = observerUrl(program.output())
      await until(async () => (await fetch(`${url}/readyz`)).status === 200, "the 10,000 children to run", 60_000)

      const opened = Date.now()
      await page.goto(`${url}/`)
      await page.waitForSelector("[data-testid=tree] [data-path='big/workers']")
      const firstRender = {
        wall: Date.now() - opened,
        inPage: Number(await page.evaluate(() => (globalThis as any).document.documentElement.dataset["firstRender"]))
      }
      expect(await page.textContent("[data-testid=tree] [data-path='big/workers']")).toContain("10,000 children")

      // Opened, the pool lists its children a page at a time as they scroll into view.
      const openedAt = Date.now()
      await page.click("button[aria-label='open big/workers']")
      await page.waitForSelector("[data-testid=tree] [data-path='big/workers/1']")
      const openPool = Date.now() - openedAt
      const scrolledAt = Date.now()
      await page.$eval("[data-testid=tree]", (tree) => (tree.scrollTop = 7_000 * 22))
      await page.waitForSelector("[data-testid=tree] [data-path='big/workers/7001']")
      const scroll = Date.now() - scrolledAt

      // Frame times over 5 seconds while the restarts' events arrive.
      const eventCount = async () => Number((await page.textContent(".log header .muted"))!.replace(/\D/g, ""))
      const before = await eventCount()
      const frames = await page.evaluate(() =>
        new Promise<{ intervals: Array<number>; longTasks: Array<number>; seconds: number }>((resolve) => {
          const { PerformanceObserver, requestAnimationFrame } = globalThis as any
          const intervals: Array<number> = []
          const longTasks: Array<number> = []
          new PerformanceObserver((list: any) => list.getEntries().forEach((entry: any) => longTasks.push(entry.duration))).observe({ type: "longtask" })
          const start = performance.now()
          let last = start
          const frame = (now: number) => {
            intervals.push(now - last)
            last = now
            if (now - start < 5000) requestAnimationFrame(frame)
            else resolve({ intervals: intervals.slice(1), longTasks, seconds: (now - start) / 1000 })
          }
          requestAnimationFrame(frame)
        })
      )
      const arrived = (await eventCount() - before) / frames.seconds
      const sorted = frames.intervals.slice().sort((a, b) => a - b)
      const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10
      const figures = {
        children: 10_000,
        restartsPerSecond: 100,
        eventsPerSecondShown: Math.round(arrived),
        firstRenderMs: firstRender,
        openPoolMs: openPool,
        scrollTo7000Ms: scroll,
        frameMs: { count: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1) },
        longTasks: frames.longTasks.length,
        longestTaskMs: Math.round(Math.max(0, ...frames.longTasks))
      }
      writeFileSync(join(artifacts, "figures.json"), JSON.stringify(figures, null, 2))
      console.log(`web observer, 10,000 children, 100 restarts/s: ${JSON.stringify(figures)}`)

      // The load was real, and the page kept up with it: far above what was measured, but a page that froze fails.
      expect(arrived).toBeGreaterThan(150)
      expect(firstRender.inPage).toBeLessThan(15_000)
      expect(figures.frameMs.p95).toBeLessThan(250)

      // A child off the pages read is found by its full path.
      await page.fill("[aria-label='search by path']", "big/workers/9999")
      await page.waitForSelector("[data-testid=tree] [data-path='big/workers/9999']")
      await page.fill("[aria-label='search by path']", "")

      // A stall of the event loop shows up with the stack it was stuck in; then the latched health gate.
      expect(await page.textContent("[data-testid=gate-disk]")).toContain("healthy")
      process.kill(program.child.pid!, "SIGUSR2")
      await page.waitForSelector("[data-testid=stall]", { timeout: 30_000 })
      await page.click("[data-testid=stall] summary")
      expect(await page.textContent("[data-testid=stall]")).toMatch(/stalled \d+ ms at stallFor \(file:.*bigTree\.ts:\d+:\d+\)/)
      expect(await page.textContent("[data-testid=stall] pre")).toContain("stallFor (file:")
      await page.waitForSelector("[data-testid=latched]:text('1 gate latched')")
      expect(await page.textContent("[data-testid=gate-disk]")).toMatch(/latched.*fatal: .*disk full/)
      // Among 400 events a second, the log filtered by kind finds it.
      await page.selectOption("[aria-label='filter by kind']", "GateLatched")
      await page.waitForSelector("[data-testid=events] [data-tag=GateLatched][data-path=big]")
      expect(await page.textContent("[data-testid=events] [data-tag=GateLatched]")).toContain("health gate disk latched: fatal: Error: disk full")
      await page.click("[data-testid=tree] [data-path='big/workers/3']")
      await page.waitForSelector("[data-testid='window-big/workers']")
      await page.screenshot({ path: join(artifacts, "pool.png") })
      expect(errors).toEqual([])
      program.child.kill("SIGINT")
      expect(await program.exited(60_000)).toBe(0)
    } finally {
      await page.close()
      if (program.child.exitCode === null) program.child.kill("SIGKILL")
    }
  }, 180_000)
})
