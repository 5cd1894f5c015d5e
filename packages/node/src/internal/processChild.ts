/**
 * A process child: its options, its start through Effect's `ChildProcess`,
 * its readiness, its output as log lines, its memory watch and its main loop.
 */
import { Errors, Lifecycle, MainLoop, Options } from "@arbor/core"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as PlatformError from "effect/PlatformError"
import * as Stream from "effect/Stream"
import * as ChildProcess from "effect/process/ChildProcess"
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs"
import { connect } from "node:net"
import { delimiter, isAbsolute, join, resolve } from "node:path"
import { millis } from "./watchdog.ts"

/** The process ended other than normally (`ProcessChild.ProcessExited`). */
export class ProcessExited extends Schema.TaggedError<ProcessExited>()("ProcessExited", {
  path: Schema.String,
  exitCode: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String)
}) {
  override get message(): string {
    return this.signal === null
      ? `${this.path}: process exited with code ${this.exitCode}`
      : `${this.path}: process killed by ${this.signal}`
  }
}

/** Its resident memory stayed above its limit (`ProcessChild.MemoryLimitExceeded`). */
export class MemoryLimitExceeded extends Schema.TaggedError<MemoryLimitExceeded>()("MemoryLimitExceeded", {
  path: Schema.String,
  rssMegabytes: Schema.Number,
  limitMegabytes: Schema.Number,
  for: Schema.String
}) {
  override get message(): string {
    return `${this.path}: resident memory ${this.rssMegabytes} MB stayed above its limit of ${this.limitMegabytes} MB for ${this.for}`
  }
}

const RegExpSchema = Schema.declare((u): u is RegExp => u instanceof RegExp, { expected: "a RegExp" })

const OptionsSchema = Schema.Struct({
  cwd: Schema.optionalKey(Schema.NonEmptyString),
  env: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  ready: Schema.optionalKey(Schema.Union([
    Schema.Literal("immediately"),
    Schema.Struct({ stdout: RegExpSchema }),
    Schema.Struct({ port: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 })), host: Schema.optionalKey(Schema.NonEmptyString) })
  ])),
  settleSignal: Schema.optionalKey(Schema.Literals(["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"])),
  memoryLimit: Schema.optionalKey(Schema.Struct({
    megabytes: Schema.Number.check(Schema.isGreaterThan(0), Schema.isFinite()),
    for: Schema.optionalKey(Options.PositiveDuration),
    every: Schema.optionalKey(Options.PositiveDuration)
  })),
  parentDeath: Schema.optionalKey(Schema.Literals(["kill", "ignore"]))
})

const invalid = (path: string, issue: string) => new Errors.InvalidOptions({ path, issue })

// A file that is not there is told by a stat that does not throw: a throwing `accessSync` costs some 30 µs per
// directory of `PATH` that lacks the command, more than the rest of a start's checks together.
const isExecutable = (file: string): boolean => {
  if (statSync(file, { throwIfNoEntry: false })?.isFile() !== true) return false
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The executable `command` names: a path, or a name looked up in `PATH`. */
const findExecutable = (command: string, cwd: string, path: string | undefined): string | undefined => {
  if (command.includes("/")) {
    const file = isAbsolute(command) ? command : resolve(cwd, command)
    return isExecutable(file) ? file : undefined
  }
  for (const directory of (path ?? "").split(delimiter)) {
    const file = join(directory || ".", command)
    if (isExecutable(file)) return file
  }
  return undefined
}

/** `setpriv` (util-linux, on every Debian and Ubuntu) sets the parent-death signal Node cannot set itself. */
const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((file) => process.platform === "linux" && isExecutable(file))

/** Options checked, the command found, and what to run: through `setpriv` unless `parentDeath` is `"ignore"`. */
const decode = (command: string, args: ReadonlyArray<string>, options: unknown, path: string) =>
  Effect.gen(function*() {
    const decoded = yield* Options.decode(OptionsSchema, path, options)
    if (decoded.cwd !== undefined && !existsSync(decoded.cwd)) {
      return yield* invalid(path, `no such directory: ${decoded.cwd}\n  at ["cwd"]`)
    }
    const executable = findExecutable(command, decoded.cwd ?? process.cwd(), decoded.env?.PATH ?? process.env.PATH)
    if (command.length === 0 || executable === undefined) {
      return yield* invalid(path, `no such command: ${JSON.stringify(command)} (not an executable file, nor found in PATH)\n  at ["command"]`)
    }
    if (decoded.memoryLimit !== undefined && process.platform !== "linux") {
      return yield* invalid(path, `needs Linux (it reads /proc)\n  at ["memoryLimit"]`)
    }
    const guarded = (decoded.parentDeath ?? "kill") === "kill" && setpriv !== undefined
    const [file, argv] = guarded ? [setpriv!, ["--pdeathsig", "SIGKILL", "--", executable, ...args]] : [executable, [...args]]
    return { ...decoded, file, argv }
  })

/** The resident memory of `pid` in megabytes, from `/proc`; undefined once it is gone. */
const residentMegabytes = (pid: number): number | undefined => {
  try {
    const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return line === null ? undefined : Math.round(Number(line[1]) / 1024)
  } catch {
    return undefined
  }
}

/** Resumes once `port` on `host` accepts a TCP connection, trying every 50 ms. */
const portOpen = (port: number, host: string): Effect.Effect<void> =>
  Effect.callback<boolean>((resume) => {
    const socket = connect({ port, host })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.flatMap((open) => open ? Effect.void : Effect.fail("closed" as const)),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.orDie
  )

export const make = (command: string, args: ReadonlyArray<string>, options: unknown) => {
  // Fixed once made: checked (the command looked up in `PATH`) at the child's first start, and reused by its restarts.
  let checked: Effect.Success<ReturnType<typeof decode>> | undefined
  return Effect.gen(function*() {
    const lifecycle = yield* Lifecycle.Lifecycle
    const path = lifecycle.path
    const config = checked ??= yield* decode(command, args, options, path)
    const settleSignal = config.settleSignal ?? "SIGTERM"
    // Its own process group; when the child's scope closes (after the budget, or on a failure), SIGKILL to the group.
    const handle = yield* ChildProcess.make(config.file, config.argv, {
      // Only when one was given: Effect's spawner then checks the directory again, through a round trip to libuv's pool.
      ...(config.cwd === undefined ? {} : { cwd: config.cwd }),
      ...(config.env === undefined ? {} : { env: config.env }),
      extendEnv: true,
      stdin: "ignore",
      killSignal: "SIGKILL"
    })
    const pid = handle.pid
    const ready = yield* Deferred.make<void>()
    const pattern = typeof config.ready === "object" && "stdout" in config.ready ? config.ready.stdout : undefined
    const lines = (stream: Stream.Stream<Uint8Array, PlatformError.PlatformError>, name: "stdout" | "stderr") =>
      stream.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.runForEach((line) => {
          if (name === "stdout" && pattern?.test(line) === true) Deferred.doneUnsafe(ready, Effect.void)
          const log = name === "stdout" ? Effect.logInfo(`${path}: ${line}`) : Effect.logWarning(`${path}: ${line}`)
          return Effect.annotateLogs(log, { path, stream: name })
        }),
        Effect.ignore,
        Effect.forkScoped
      )
    const stdout = yield* lines(handle.stdout, "stdout")
    const stderr = yield* lines(handle.stderr, "stderr")
    let settleRequested = false
    const exit = handle.exitCode.pipe(
      Effect.map((code) => ({ code: code as number, signal: null as string | null })),
      Effect.catch((error) => {
        // Effect reports a death by signal as an error whose cause names the signal.
        const signal = /signal: '(\w+)'/.exec(String(error.cause))?.[1]
        return signal === undefined ? Effect.fail(error) : Effect.succeed({ code: null, signal })
      }),
      // The last lines it wrote are logged before its exit is.
      Effect.tap(() => Effect.andThen(Fiber.await(stdout), Fiber.await(stderr))),
      Effect.flatMap(({ code, signal }) =>
        code === 0 || (settleRequested && signal === settleSignal)
          ? Effect.void
          : Effect.fail(new ProcessExited({ path, exitCode: code, signal }))
      )
    )
    // Ready at once: started is ready. Otherwise a process that ends before it is ready fails the startup with its exit.
    if (config.ready !== undefined && config.ready !== "immediately") {
      if (pattern === undefined) {
        const { port, host = "127.0.0.1" } = config.ready as { port: number; host?: string }
        yield* Effect.forkScoped(Effect.andThen(portOpen(port, host), Deferred.succeed(ready, undefined)))
      }
      yield* Effect.raceFirst(Deferred.await(ready), Effect.andThen(exit, new ProcessExited({ path, exitCode: 0, signal: null })))
    }
    yield* Effect.forkScoped(Effect.andThen(lifecycle.settling, Effect.sync(() => {
      settleRequested = true
      try {
        process.kill(-pid, settleSignal)
      } catch {
        // Gone already: its exit is on its way.
      }
    })))
    const limit = config.memoryLimit
    const main = limit === undefined ? exit : Effect.raceFirst(exit, watchMemory(path, pid, limit))
    return yield* MainLoop.spawn(main, { pid })
  })
}

/** Fails once the process's resident memory has stayed above the limit for the whole window. */
const watchMemory = (
  path: string,
  pid: number,
  limit: { readonly megabytes: number; readonly for?: Duration.Input; readonly every?: Duration.Input }
): Effect.Effect<never, MemoryLimitExceeded> =>
  Effect.gen(function*() {
    const window = millis(limit.for ?? "5 seconds")
    const every = millis(limit.every ?? "1 second")
    let aboveSince: number | undefined
    while (true) {
      yield* Effect.sleep(Duration.millis(every))
      const rss = residentMegabytes(pid)
      const now = Date.now()
      if (rss === undefined || rss <= limit.megabytes) {
        aboveSince = undefined
        continue
      }
      aboveSince ??= now
      if (now - aboveSince >= window) {
        const error = new MemoryLimitExceeded({
          path,
          rssMegabytes: rss,
          limitMegabytes: limit.megabytes,
          for: Duration.format(Duration.millis(window))
        })
        yield* Effect.annotateLogs(Effect.logWarning(`${error.message}; restarting it`), "path", path)
        return yield* error
      }
    }
  })
