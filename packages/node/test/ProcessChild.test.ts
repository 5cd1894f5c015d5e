/**
 * Process children as real OS processes (`sh` scripts and small Node
 * programs). Waits are bounded generously: the tests check behaviour, not
 * speed. After each test no process it started is left, checked by pid and
 * by process group.
 */
import { describe, expect, it } from "@effect/vitest"
import { Errors, System, Toplevel } from "@arbor/core"
import type { LifecycleEvent } from "@arbor/core"
import { ProcessChild } from "@arbor/node"
import { NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import { mkdtempSync, readdirSync, readFileSync, realpathSync } from "node:fs"
import { createConnection, createServer } from "node:net"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { eventually, tagsAt, withTree } from "./children.ts"
import { run } from "./process.ts"

/**
 * Whether a process (or, with a negative id, any process of that group) is
 * alive, from `/proc`. A zombie is not: it is dead, only not yet reaped by
 * whoever inherited it.
 */
const exists = (id: number): boolean =>
  readdirSync("/proc").some((entry) => {
    if (!/^\d+$/.test(entry)) return false
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const [state, , pgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return state !== "Z" && (id > 0 ? Number(entry) === id : Number(pgid) === -id)
    } catch {
      return false
    }
  })

const node = process.execPath

describe("ProcessChild", () => {
  it.live("is ready on a stdout line, logs its output with its path, and settles on SIGTERM", () =>
    Effect.gen(function*() {
      let pid: number | undefined
      const script = "echo starting; echo oops >&2; echo ready; exec sleep 300"
      const { events, exit, lines } = yield* withTree(
        System.make((scope) =>
          Effect.map(scope.child("helper", ProcessChild.make("sh", ["-c", script], { ready: { stdout: /^ready$/ } })), (info) => {
            pid = info.pid
          })
        ),
        () => pid !== undefined,
        () => Effect.sync(() => expect(exists(pid!)).toBe(true))
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(tagsAt(events, "app/helper")).toEqual(["ChildStarting", "ChildStarted", "ChildSettling", "ChildExited normal stopped"])
      const output = lines.filter((line) => line.stream !== undefined)
      expect(output).toContainEqual({ text: "app/helper: starting", path: "app/helper", stream: "stdout" })
      expect(output).toContainEqual({ text: "app/helper: oops", path: "app/helper", stream: "stderr" })
      expect(exists(pid!)).toBe(false)
      expect(exists(-pid!)).toBe(false)
    }))

  it.live("runs in its cwd when given one, else in the process's", () =>
    Effect.gen(function*() {
      const there = mkdtempSync(join(tmpdir(), "arbor-cwd-"))
      const pids: Array<number> = []
      const printsCwd = (options: ProcessChild.Options) =>
        ProcessChild.make("sh", ["-c", "pwd -P; exec sleep 300"], { ...options, ready: { stdout: /^\// } })
      const { lines } = yield* withTree(
        System.make((scope) =>
          Effect.gen(function*() {
            pids.push((yield* scope.child("here", printsCwd({}))).pid)
            pids.push((yield* scope.child("there", printsCwd({ cwd: there }))).pid)
          })
        ),
        () => pids.length === 2,
        () => Effect.void
      )
      expect(lines.map((line) => line.text)).toEqual(expect.arrayContaining([
        `app/here: ${realpathSync(process.cwd())}`,
        `app/there: ${realpathSync(there)}`
      ]))
      for (const pid of pids) expect(exists(-pid)).toBe(false)
    }))

  it.live("a non-zero exit fails the child with its exit code, and it is restarted", () =>
    Effect.gen(function*() {
      const { events } = yield* withTree(
        System.make((scope) => scope.child("helper", ProcessChild.make("sh", ["-c", "sleep 0.1; exit 3"]), { restart: "transient" })),
        () => true,
        (events) => eventually(() => events.filter((event) => event._tag === "ChildExited" && event.path === "app/helper").length >= 2, "two exits")
      )
      const exited = events.find((event) => event._tag === "ChildExited" && event.path === "app/helper")
      expect(exited).toMatchObject({ exit: "failure", decision: "restart", message: "ProcessExited: app/helper: process exited with code 3" })
    }))

  it.live("a process group that ignores SIGTERM is killed with SIGKILL at its budget, leaving nothing behind", () =>
    Effect.gen(function*() {
      let pid: number | undefined
      // The shell and both of its children ignore SIGTERM (an ignored signal stays ignored across exec).
      const script = "trap '' TERM; sleep 300 & sleep 300 & echo up; wait"
      const { events, exit } = yield* withTree(
        System.make((scope) =>
          Effect.map(
            scope.child("stubborn", ProcessChild.make("sh", ["-c", script], { ready: { stdout: /up/ } }), { shutdown: "500 millis" }),
            (info) => void (pid = info.pid)
          )
        ),
        () => pid !== undefined,
        () => Effect.void
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(tagsAt(events, "app/stubborn")).toEqual(["ChildStarting", "ChildStarted", "ChildSettling", "ChildInterrupted", "ChildExited interrupted stopped"])
      expect(exists(pid!)).toBe(false)
      expect(exists(-pid!)).toBe(false)
    }))

  it.live("waits for a TCP port before its startup returns", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const probe = createServer().listen(0, "127.0.0.1", () => {
            const { port } = probe.address() as AddressInfo
            probe.close(() => resolve(port))
          })
        })
      )
      const program = `setTimeout(() => require("net").createServer().listen(${port}, "127.0.0.1"), 300)`
      let accepting: boolean | undefined
      const { events } = yield* withTree(
        System.make((scope) =>
          Effect.gen(function*() {
            yield* scope.child("server", ProcessChild.make(node, ["-e", program], { ready: { port } }))
            // Declared after it: starts only once the port accepts.
            accepting = yield* Effect.promise(() =>
              new Promise<boolean>((resolve) => {
                const socket = createConnection({ port, host: "127.0.0.1" })
                socket.once("connect", () => (socket.destroy(), resolve(true)))
                socket.once("error", () => resolve(false))
              })
            )
          })
        ),
        () => accepting !== undefined,
        () => Effect.void
      )
      expect(accepting).toBe(true)
      expect(tagsAt(events, "app/server")).toEqual(["ChildStarting", "ChildStarted", "ChildSettling", "ChildExited normal stopped"])
    }))

  it.live("a process whose memory stays above its limit is restarted", () =>
    Effect.gen(function*() {
      const program = "const kept = []; setInterval(() => kept.push(Buffer.alloc(16 * 2 ** 20, 1)), 20)"
      const child = ProcessChild.make(node, ["-e", program], { memoryLimit: { megabytes: 100, for: "200 millis", every: "50 millis" } })
      const { events } = yield* withTree(
        System.make((scope) => scope.child("hog", child)),
        () => true,
        (events) => eventually(() => events.some((event) => event._tag === "ChildExited" && event.path === "app/hog"), "exited")
      )
      const exited = events.find((event) => event._tag === "ChildExited" && event.path === "app/hog") as LifecycleEvent.ChildExited
      expect(exited).toMatchObject({ exit: "failure", decision: "restart" })
      expect(exited.message).toMatch(/^MemoryLimitExceeded: app\/hog: resident memory \d+ MB stayed above its limit of 100 MB for 200ms$/)
    }))

  it.live("bad options fail the startup with InvalidOptions naming the child, before anything starts", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, ProcessChild.Options, string]> = [
        ["no-such-command-arbor", {}, `["command"]`],
        ["sh", { memoryLimit: { megabytes: -1 } }, `["memoryLimit"]["megabytes"]`],
        ["sh", { cwd: "/no/such/dir" }, `["cwd"]`]
      ]
      for (const [command, options, where] of cases) {
        const start = Toplevel.make("app", System.make((scope) => scope.child("helper", ProcessChild.make(command, [], options)))).start()
        const exit = yield* Effect.exit(Effect.provide(start, NodeServices.layer))
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        expect(error).toBeInstanceOf(Errors.StartupFailed)
        const cause = Cause.squash((error as Errors.StartupFailed).cause as Cause.Cause<unknown>)
        expect(cause).toMatchObject({ _tag: "InvalidOptions", path: "app/helper" })
        expect((cause as Errors.InvalidOptions).issue).toContain(where)
      }
    }))

  it.live("when Node itself is killed with SIGKILL, the kernel kills the process too (setpriv --pdeathsig)", () =>
    Effect.gen(function*() {
      const program = run(new URL("./fixtures/processTree.ts", import.meta.url).pathname)
      yield* Effect.promise(() => program.waitFor(/helper pid \d+/))
      const pid = Number(/helper pid (\d+)/.exec(program.output())![1])
      expect(exists(pid)).toBe(true)
      program.child.kill("SIGKILL")
      expect(yield* Effect.promise(() => program.exited())).toBe("SIGKILL")
      yield* eventually(() => !exists(pid), "the helper is gone")
    }))
})

