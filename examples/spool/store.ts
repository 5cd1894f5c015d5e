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

/** A message as a client hands it in. */
export interface Message {
  readonly to: string
  readonly body: string
}

/** A stored message, with the id the spool gave it. */
export interface Stored extends Message {
  readonly id: number
}

/** The ids from `first` to `last`, both included: a delivered batch (read in id order, so none in between is missing). */
export interface Range {
  readonly first: number
  readonly last: number
}

/** What a commit did: the ids of the appended messages, and how many it removed. */
export interface Committed {
  readonly ids: Array<number>
  readonly removed: number
}

/**
 * What the spool needs from a storage engine. Calls are answered in the
 * order they were made. Tests wrap it to inject failures.
 */
export interface Storage {
  /** In one durable transaction: appends `append`, removes the ranges of `remove`, touches the health row. */
  commit(append: ReadonlyArray<Message>, remove: ReadonlyArray<Range>, touch: boolean): Promise<Committed>
  /** Up to `limit` stored messages with an id above `after`, in id order. */
  read(after: number, limit: number): Promise<Array<Stored>>
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
  append(message: Message): Effect.Effect<number, StoreBusy | StoreFailed>
  /** Removes a delivered batch (durably, in the next commit). */
  remove(range: Range): Effect.Effect<void, StoreFailed>
  /** A commit that only touches the health row: a canary while the gate is latched. */
  readonly touch: Effect.Effect<void, StoreFailed>
  /** Up to `limit` stored messages after `after`. */
  read(after: number, limit: number): Effect.Effect<Array<Stored>, StoreFailed>
  /** Resumes once a commit has appended messages after id `after`. */
  appendedAfter(after: number): Effect.Effect<void>
  readonly stats: Readonly<StoreStats>
}

type Waiter = (result: Effect.Effect<number, StoreFailed>) => void

/** The next commit, as it gathers. */
interface Batch {
  readonly append: Array<Message>
  readonly appendWaiters: Array<Waiter>
  readonly remove: Array<Range>
  readonly removeWaiters: Array<Waiter>
  readonly otherWaiters: Array<Waiter>
  touch: boolean
  /** Its first removal has waited `removeDelay`: commit even without an append. */
  removalsDue: boolean
}

const emptyBatch = (): Batch => ({
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
export const storeChild = (open: () => Promise<Storage>, options: StoreOptions) =>
  Effect.gen(function*() {
    const storage = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: open, catch: (error) => error }),
      (storage) => Effect.promise(() => storage.close())
    )
    const spooled = yield* Effect.tryPromise({ try: () => storage.count(), catch: failed })
    const stats: StoreStats = { spooled, lastId: 0, commits: 0, failedCommits: 0, stalledCommits: 0 }
    let batch = emptyBatch()
    let wake = Deferred.makeUnsafe<void>()
    let appended = Deferred.makeUnsafe<void>()
    /** Whether to commit now; removals wait for an append, for `removeDelay` at most (not at all when settling). */
    const hasWork = (settling: boolean) =>
      batch.append.length + batch.otherWaiters.length > 0 || (batch.removeWaiters.length > 0 && (settling || batch.removalsDue))

    const join = (add: (batch: Batch, waiter: Waiter) => void) =>
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
        const gathering = batch
        gathering.remove.push(range)
        gathering.removeWaiters.push(resume)
        if (gathering.removeWaiters.length > 1) return
        setTimeout(() => {
          gathering.removalsDue = true
          Deferred.doneUnsafe(wake, Effect.void)
        }, options.removeDelay).unref()
      })

    /** An append whose caller gave up before its commit began is taken out again: it is not stored. */
    const append = (message: Message) =>
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
    const take = (): Batch => {
      const taken = batch
      batch = emptyBatch()
      if (taken.append.length > options.maxBatch) {
        batch.append.push(...taken.append.splice(options.maxBatch))
        batch.appendWaiters.push(...taken.appendWaiters.splice(options.maxBatch))
      }
      return taken
    }

    /** Commits `taken` and answers its waiters. */
    const commit = (taken: Batch) =>
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
          onSuccess: ({ ids, removed }) => {
            stats.commits++
            stats.spooled += ids.length - removed
            if (ids.length > 0) {
              stats.lastId = ids[ids.length - 1]!
              Deferred.doneUnsafe(appended, Effect.void)
              appended = Deferred.makeUnsafe()
            }
            taken.appendWaiters.forEach((waiter, i) => waiter(Effect.succeed(ids[i]!)))
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
