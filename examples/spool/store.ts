/**
 * The spool's store: messages in SQLite (`node:sqlite`, built into Node, run
 * on a worker thread: see `sqlite.ts`), written by one writer fiber with
 * group commit.
 *
 * Every request that wants a message stored (and every delivery that wants
 * a delivered batch removed) joins the pending batch; the writer commits
 * all of it in one transaction, with `synchronous=FULL` (an fsync), and
 * then answers each waiter: a 202 is sent only after the commit that holds
 * the message. While one commit runs, the next batch gathers, so a busy
 * spool pays one fsync for many messages.
 */
import { Lifecycle, MainLoop } from "@arbor/core"
import { Deferred, Effect, Schema } from "effect"

/**
 * A message as JSON text, `{"to": ..., "body": ...}`, as the ingest received
 * and validated it: the store keeps it without parsing or serialising it
 * again, and SQLite takes it apart (`json_each`).
 */
export type MessageJson = string

/**
 * Stored messages read for delivery: ids `first` to `last` (`count` of them,
 * none in between missing) and the batch as the sink takes it, a JSON array
 * of `{"id", "to", "body"}` made by SQLite.
 */
export interface Batch extends Range {
  readonly count: number
  readonly json: string
}

/** The ids from `first` to `last`, both included: a delivered batch (read in id order, so none in between is missing). */
export interface Range {
  readonly first: number
  readonly last: number
}

/** What a commit did: the appended messages got ids `first`, `first + 1`, ...; it removed `removed`. */
export interface Committed {
  readonly first: number
  readonly removed: number
}

/**
 * What the spool needs from a storage engine. Calls are answered in the
 * order they were made. Tests wrap it to inject failures.
 */
export interface Storage {
  /** In one durable transaction: appends `append`, removes the ranges of `remove`, touches the health row. */
  commit(append: ReadonlyArray<MessageJson>, remove: ReadonlyArray<Range>, touch: boolean): Promise<Committed>
  /** Up to `limit` stored messages with an id above `after`, in id order; undefined if there is none. */
  read(after: number, limit: number): Promise<Batch | undefined>
  /** How many messages are stored. */
  count(): Promise<number>
  close(): Promise<void>
}

/** The store could not open its database: the message names the path. */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()("StoreUnavailable", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot open the spool store at ${this.path}: ${this.reason}`
  }
}

/** The storage engine failed a commit or a read; `code` is SQLite's (extended) result code, 0 if none. */
export class StoreFailed extends Schema.TaggedError<StoreFailed>()("StoreFailed", {
  reason: Schema.String,
  code: Schema.Number
}) {
  override get message(): string {
    return this.reason
  }
}

/** Too many writes wait for a commit already: try again shortly. */
export class StoreBusy extends Schema.TaggedError<StoreBusy>()("StoreBusy", { pending: Schema.Number }) {}

const failed = (error: unknown): StoreFailed =>
  new StoreFailed({
    reason: error instanceof Error ? error.message : String(error),
    code: typeof error === "object" && error !== null && "code" in error && typeof error.code === "number" ? error.code : 0
  })

/** What the store counts: the health monitor reads the trouble counters into the gate. */
export interface StoreStats {
  /** Messages stored and not yet removed. */
  spooled: number
  /** The highest id committed so far. */
  lastId: number
  commits: number
  /** Commits that failed (the whole batch was rolled back). */
  failedCommits: number
  /** Commits that took longer than the stall threshold. */
  stalledCommits: number
}

/** The store as the other children use it. */
export interface Store {
  /** Stores `message` durably; resumes with its id once the commit holding it is done. */
  append(message: MessageJson): Effect.Effect<number, StoreBusy | StoreFailed>
  /** Removes a delivered batch (durably, in the next commit). */
  remove(range: Range): Effect.Effect<void, StoreFailed>
  /** A commit that only touches the health row: a canary while the gate is latched. */
  readonly touch: Effect.Effect<void, StoreFailed>
  /** Up to `limit` stored messages after `after`. */
  read(after: number, limit: number): Effect.Effect<Batch | undefined, StoreFailed>
  /** Resumes once a commit has appended messages after id `after`. */
  appendedAfter(after: number): Effect.Effect<void>
  readonly stats: Readonly<StoreStats>
}

type Waiter = (result: Effect.Effect<number, StoreFailed>) => void

/** The next commit, as it gathers. */
interface Gathering {
  readonly append: Array<MessageJson>
  readonly appendWaiters: Array<Waiter>
  readonly remove: Array<Range>
  readonly removeWaiters: Array<Waiter>
  readonly otherWaiters: Array<Waiter>
  touch: boolean
  /** Its first removal has waited `removeDelay`: commit even without an append. */
  removalsDue: boolean
}

const gathering = (): Gathering => ({
  append: [],
  appendWaiters: [],
  remove: [],
  removeWaiters: [],
  otherWaiters: [],
  touch: false,
  removalsDue: false
})

export interface StoreOptions {
  /** How many appends may wait for a commit before `append` answers busy. */
  readonly maxPending: number
  /** At most this many messages per commit. */
  readonly maxBatch: number
  /** A commit slower than this counts as stalled. */
  readonly stallMillis: number
  /** How long a removal waits for an append's commit to ride on before it gets one of its own. */
  readonly removeDelay: number
}

/**
 * The store child: opens the storage (a failure is a startup error naming
 * the path), hands the `Store` on, and runs the writer until asked to
 * settle; it then commits what is pending and closes the storage.
 */
export const storeChild = (path: string, open: (path: string) => Promise<Storage>, options: StoreOptions) =>
  Effect.gen(function*() {
    const storage = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => open(path), catch: (error) => error }),
      (storage) => Effect.promise(() => storage.close())
    )
    const spooled = yield* Effect.tryPromise({ try: () => storage.count(), catch: failed })
    // The delivery starts from the beginning of the store: what a crash left undelivered goes out again.
    yield* Effect.logInfo(`store: ${path} holds ${spooled} undelivered message${spooled === 1 ? "" : "s"}; delivering from the first`)
    const stats: StoreStats = { spooled, lastId: 0, commits: 0, failedCommits: 0, stalledCommits: 0 }
    let batch = gathering()
    let wake = Deferred.makeUnsafe<void>()
    let appended = Deferred.makeUnsafe<void>()
    /** Whether to commit now; removals wait for an append, for `removeDelay` at most (not at all when settling). */
    const hasWork = (settling: boolean) =>
      batch.append.length + batch.otherWaiters.length > 0 || (batch.removeWaiters.length > 0 && (settling || batch.removalsDue))

    const join = (add: (batch: Gathering, waiter: Waiter) => void) =>
      Effect.callback<number, StoreFailed>((resume) => {
        add(batch, resume)
        Deferred.doneUnsafe(wake, Effect.void)
      })

    /**
     * A removal does not need a commit of its own: it rides on the next
     * append's commit. Only when none comes within `removeDelay` does it get
     * one. (A removal lost in a crash means one more delivery of the batch,
     * which the sink takes as a duplicate.)
     */
    const removal = (range: Range) =>
      Effect.callback<number, StoreFailed>((resume) => {
        const next = batch
        next.remove.push(range)
        next.removeWaiters.push(resume)
        if (next.removeWaiters.length > 1) return
        setTimeout(() => {
          next.removalsDue = true
          Deferred.doneUnsafe(wake, Effect.void)
        }, options.removeDelay).unref()
      })

    /** An append whose caller gave up before its commit began is taken out again: it is not stored. */
    const append = (message: MessageJson) =>
      Effect.callback<number, StoreFailed>((resume) => {
        batch.append.push(message)
        batch.appendWaiters.push(resume)
        Deferred.doneUnsafe(wake, Effect.void)
        return Effect.sync(() => {
          const at = batch.appendWaiters.indexOf(resume)
          if (at < 0) return
          batch.append.splice(at, 1)
          batch.appendWaiters.splice(at, 1)
        })
      })

    /** Takes what gathered (at most `maxBatch` appends; the rest waits for the next commit). */
    const take = (): Gathering => {
      const taken = batch
      batch = gathering()
      if (taken.append.length > options.maxBatch) {
        batch.append.push(...taken.append.splice(options.maxBatch))
        batch.appendWaiters.push(...taken.appendWaiters.splice(options.maxBatch))
      }
      return taken
    }

    /** Commits `taken` and answers its waiters. */
    const commit = (taken: Gathering) =>
      Effect.suspend(() => {
        const started = performance.now()
        return Effect.tryPromise({
          try: () => storage.commit(taken.append, taken.remove, taken.touch),
          catch: failed
        }).pipe(Effect.match({
          onFailure: (error) => {
            stats.failedCommits++
            const failure = Effect.fail(error)
            for (const waiter of [...taken.appendWaiters, ...taken.removeWaiters, ...taken.otherWaiters]) waiter(failure)
          },
          onSuccess: ({ first, removed }) => {
            const count = taken.append.length
            stats.commits++
            stats.spooled += count - removed
            if (count > 0) {
              stats.lastId = first + count - 1
              Deferred.doneUnsafe(appended, Effect.void)
              appended = Deferred.makeUnsafe()
            }
            taken.appendWaiters.forEach((waiter, i) => waiter(Effect.succeed(first + i)))
            for (const waiter of [...taken.removeWaiters, ...taken.otherWaiters]) waiter(Effect.succeed(0))
          }
        }), Effect.ensuring(Effect.sync(() => {
          if (performance.now() - started > options.stallMillis) stats.stalledCommits++
        })))
      })

    const writer = Effect.gen(function*() {
      const lifecycle = yield* Lifecycle.Lifecycle
      while (true) {
        const settling = yield* lifecycle.isSettling
        if (hasWork(settling)) {
          // What arrives while this commit runs gathers for the next one.
          yield* commit(take())
          continue
        }
        if (settling) return
        yield* Effect.raceFirst(Deferred.await(wake), lifecycle.settling)
        wake = Deferred.makeUnsafe()
      }
    })

    const store: Store = {
      append: (message) =>
        Effect.suspend((): Effect.Effect<number, StoreBusy | StoreFailed> =>
          batch.append.length >= options.maxPending
            ? Effect.fail(new StoreBusy({ pending: batch.append.length }))
            : append(message)
        ),
      remove: (range) => Effect.asVoid(removal(range)),
      touch: Effect.asVoid(join((batch, waiter) => {
        batch.touch = true
        batch.otherWaiters.push(waiter)
      })),
      read: (after, limit) => Effect.tryPromise({ try: () => storage.read(after, limit), catch: failed }),
      appendedAfter: (after) => Effect.suspend(() => stats.lastId > after ? Effect.void : Deferred.await(appended)),
      stats
    }
    return yield* MainLoop.run(writer, store)
  })
