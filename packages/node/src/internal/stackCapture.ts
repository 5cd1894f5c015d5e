/**
 * Reading the JavaScript stack of a stalled thread through an inspector
 * session: the main thread's, from the watchdog's worker, or a worker
 * child's, from the main thread. A stalled thread still answers the
 * inspector (V8 interrupts its JavaScript to do so) unless it is inside
 * native code; every request is therefore bounded.
 *
 * Imports only Node's own modules: the watchdog's worker loads it.
 */
import { Session } from "node:inspector"
import type { Frame } from "./watchdogProtocol.ts"

/** A request to the inspected thread took longer than it was allowed. */
export class Timeout extends Error {}

/** `promise`, or a `Timeout` after `millis`. */
export const within = <A>(promise: Promise<A>, millis: number): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Timeout()), millis)
    })
  ]).finally(() => clearTimeout(timer))
}

/** An inspector session to one thread; each request waits at most the connection's timeout. */
export interface Connection {
  /** Which thread, for messages: "the main thread", "the worker". */
  readonly thread: string
  readonly timeout: number
  readonly post: (method: string, params?: object) => Promise<any>
  /** The next `event`'s parameters. */
  readonly once: (event: string) => Promise<any>
  /** Script URLs by id: frames' own `url` is empty on Node 24. */
  readonly urls: Map<string, string>
  /** Disconnecting also resumes the thread if a pause landed after its capture was given up. */
  readonly close: () => void
  readonly isOpen: () => boolean
}

const request = (session: Session, method: string, params: object): Promise<any> =>
  new Promise((resolve, reject) =>
    session.post(method, params, (error, result) => error === null ? resolve(result) : reject(error))
  )

/** A session to the main thread, from a worker. */
export const connectToMainThread = (timeout: number): Connection => {
  const session = new Session()
  session.connectToMainThread()
  const urls = new Map<string, string>()
  session.on("Debugger.scriptParsed", (message) => urls.set(message.params.scriptId, message.params.url))
  let open = true
  return {
    thread: "the main thread",
    timeout,
    post: (method, params = {}) => within(request(session, method, params), timeout),
    once: (event) => new Promise((resolve) => session.once(event, (message: any) => resolve(message.params))),
    urls,
    close: () => {
      if (open) session.disconnect()
      open = false
    },
    isOpen: () => open
  }
}

/**
 * A session to the worker thread `threadId`, from the thread that started it:
 * Node's `NodeWorker` domain relays the messages, no `--inspect` needed.
 */
export const connectToWorker = async (threadId: number, timeout: number): Promise<Connection> => {
  const session = new Session()
  session.connect()
  let open = true
  const close = () => {
    if (open) session.disconnect()
    open = false
  }
  try {
    const attached = new Promise<string>((resolve) =>
      session.on("NodeWorker.attachedToWorker", (message: any) => {
        // The inspector numbers workers its own way; its title starts with the thread id.
        if (String(message.params.workerInfo.title).startsWith(`[worker ${threadId}]`)) resolve(message.params.sessionId)
      })
    )
    await within(request(session, "NodeWorker.enable", { waitForDebuggerOnStart: false }), timeout)
    const sessionId = await within(attached, timeout)
    const urls = new Map<string, string>()
    const answers = new Map<number, { resolve: (result: any) => void; reject: (error: unknown) => void }>()
    const listeners = new Map<string, (params: any) => void>()
    session.on("NodeWorker.receivedMessageFromWorker", (message: any) => {
      if (message.params.sessionId !== sessionId) return
      const received = JSON.parse(message.params.message)
      if (received.id !== undefined) {
        const answer = answers.get(received.id)
        answers.delete(received.id)
        if (received.error !== undefined) answer?.reject(new Error(received.error.message))
        else answer?.resolve(received.result)
      } else if (received.method === "Debugger.scriptParsed") {
        urls.set(received.params.scriptId, received.params.url)
      } else {
        listeners.get(received.method)?.(received.params)
      }
    })
    let ids = 0
    return {
      thread: "the worker",
      timeout,
      post: (method, params = {}) => {
        const id = ++ids
        const answered = new Promise((resolve, reject) => answers.set(id, { resolve, reject }))
        const message = JSON.stringify({ id, method, params })
        return within(Promise.all([request(session, "NodeWorker.sendMessageToWorker", { sessionId, message }), answered]), timeout)
          .then(([, result]) => result)
      },
      once: (event) =>
        new Promise((resolve) =>
          listeners.set(event, (params) => {
            listeners.delete(event)
            resolve(params)
          })
        ),
      urls,
      close,
      isOpen: () => open
    }
  } catch (error) {
    close()
    throw error
  }
}

/**
 * The explanation when the thread did not answer in time: what was observed
 * first, then what may cause it (the silence alone does not tell native code
 * from a JavaScript loop on a machine too loaded to schedule the thread).
 */
export const noAnswer = (connection: Pick<Connection, "thread" | "timeout">, what: string): string =>
  `${what}: ${connection.thread} did not answer the inspector within ${connection.timeout} ms (captureTimeout). ` +
  "Possible causes: native code that has not returned to JavaScript yet (a long JSON.parse, a synchronous fs, " +
  "crypto or child_process call); a machine too loaded to give the thread a core in time (raise " +
  "captureTimeout); `thread` and `cpu` in the watchdog's report tell a busy thread from a waiting one"

/** A stack, innermost frame first, or why there is none. */
export interface Capture {
  readonly stack: ReadonlyArray<Frame>
  readonly stackUnavailable: string | undefined
}

/**
 * Pauses the thread just long enough to read its call frames. The debugger
 * is enabled only for this: left on, it slows compilation severalfold.
 * `recovered` tells whether the thread moved on meanwhile: a pause that lands
 * then shows whatever ran next, not the stall.
 */
export const captureStack = async (connection: Connection, recovered: () => boolean): Promise<Capture> => {
  const { post, urls } = connection
  let frames: Array<any> | undefined
  try {
    await post("Debugger.enable")
    const paused = connection.once("Debugger.paused")
    await post("Debugger.pause")
    frames = (await within(paused, connection.timeout)).callFrames as Array<any>
    await post("Debugger.resume")
    await post("Debugger.disable")
  } catch (error) {
    if (!(error instanceof Timeout)) throw error
    // The thread went into native code mid-capture: let go of it rather than leave a pause pending.
    connection.close()
    return { stack: [], stackUnavailable: noAnswer(connection, "no JavaScript stack") }
  }
  if (recovered()) {
    return { stack: [], stackUnavailable: `no JavaScript stack: ${connection.thread} recovered before it could be paused` }
  }
  const stack = frames.map((frame): Frame => ({
    functionName: frame.functionName === "" ? "(anonymous)" : frame.functionName,
    url: frame.url || urls.get(frame.location.scriptId) || `script ${frame.location.scriptId}`,
    line: frame.location.lineNumber + 1,
    column: (frame.location.columnNumber ?? 0) + 1
  }))
  return stack.length > 0 ? { stack, stackUnavailable: undefined } : { stack, stackUnavailable: "no JavaScript stack" }
}
