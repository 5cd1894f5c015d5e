/**
 * `Storage` on SQLite, run by a worker thread (`sqliteWorker.ts`): each
 * call posts a request and resolves with the worker's answer. Requests are
 * answered in the order they were sent.
 */
import { Worker } from "node:worker_threads"
import type { Batch, Committed, MessageJson, Range, Storage } from "./store.ts"
import { StoreUnavailable } from "./store.ts"

/** A request to the worker; `seq` pairs it with its answer. */
export type Request = { readonly seq: number } & (
  | { readonly op: "commit"; readonly append: ReadonlyArray<MessageJson>; readonly remove: ReadonlyArray<Range>; readonly touch: boolean }
  | { readonly op: "read"; readonly after: number; readonly limit: number }
  | { readonly op: "count" }
  | { readonly op: "close" }
)

/** What SQLite threw: its message and (extended) result code. */
export interface Failure {
  readonly message: string
  readonly code: number
}

export type Response =
  | { readonly seq: number; readonly ok: true; readonly value: unknown }
  | { readonly seq: number; readonly ok: false; readonly error: Failure }

/** An error thrown by SQLite in the worker, with its result code for the gate's classifier. */
export class SqliteError extends Error {
  override readonly name = "SqliteError"
  readonly code: number

  constructor(failure: Failure) {
    super(failure.message)
    this.code = failure.code
  }
}

type RequestBody = Request extends infer R ? R extends unknown ? Omit<R, "seq"> : never : never

/** Opens the SQLite spool at `path` on a new worker thread; rejects with `StoreUnavailable` naming the path. */
export const openSqlite = (path: string): Promise<Storage> =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./sqliteWorker.ts", import.meta.url), { workerData: { path } })
    const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>()
    let seq = 0
    let gone: Error | undefined
    const call = <A>(body: RequestBody): Promise<A> =>
      new Promise((resolve, reject) => {
        if (gone !== undefined) return reject(gone)
        waiting.set(++seq, { resolve: resolve as (value: unknown) => void, reject })
        worker.postMessage({ ...body, seq })
      })
    const storage: Storage = {
      commit: (append, remove, touch) => call<Committed>({ op: "commit", append, remove, touch }),
      read: (after, limit) => call<Batch | undefined>({ op: "read", after, limit }),
      count: () => call<number>({ op: "count" }),
      close: async () => {
        await call({ op: "close" }).catch(() => undefined)
        await worker.terminate()
      }
    }
    worker.on("message", (message: Response | { readonly opened: boolean; readonly error?: Failure }) => {
      if ("opened" in message) {
        if (message.opened) resolve(storage)
        else reject(new StoreUnavailable({ path, reason: message.error?.message ?? "unknown error" }))
        return
      }
      const caller = waiting.get(message.seq)
      waiting.delete(message.seq)
      if (message.ok) caller?.resolve(message.value)
      else caller?.reject(new SqliteError(message.error))
    })
    // A worker that dies fails what waits on it, and everything after.
    const end = (error: Error) => {
      gone ??= error
      reject(new StoreUnavailable({ path, reason: error.message }))
      for (const caller of waiting.values()) caller.reject(error)
      waiting.clear()
    }
    worker.on("error", end)
    worker.on("exit", (code) => end(new Error(`the SQLite worker exited (${code})`)))
  })
