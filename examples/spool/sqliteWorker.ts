/**
 * The spool's SQLite connection, on a worker thread of its own: `node:sqlite`
 * is synchronous, and a commit waits for its fsync; here that wait holds
 * this thread, not the event loop that serves requests.
 *
 * It answers one request at a time, in order (see `sqlite.ts` for the
 * protocol's other side).
 */
import { DatabaseSync } from "node:sqlite"
import { parentPort, workerData } from "node:worker_threads"
import type { Request, Response } from "./sqlite.ts"

const port = parentPort!
const path = (workerData as { readonly path: string }).path

const fail = (error: unknown) => ({
  message: error instanceof Error ? error.message : String(error),
  code: typeof error === "object" && error !== null && "errcode" in error ? Number(error.errcode) : 0
})

let db: DatabaseSync
try {
  db = new DatabaseSync(path)
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      recipient TEXT NOT NULL,
      body TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY CHECK (id = 1), touched INTEGER NOT NULL);
    INSERT OR IGNORE INTO health VALUES (1, 0);
  `)
} catch (error) {
  port.postMessage({ opened: false, error: fail(error) })
  process.exit(0)
}

// A whole batch in one statement: its rows get consecutive ids.
const insert = db.prepare("INSERT INTO messages (recipient, body) SELECT value ->> 'to', value ->> 'body' FROM json_each(?)")
const remove = db.prepare("DELETE FROM messages WHERE id BETWEEN ? AND ?")
const touch = db.prepare("UPDATE health SET touched = ? WHERE id = 1")
const select = db.prepare(`
  SELECT json_group_array(json_object('id', id, 'to', recipient, 'body', body) ORDER BY id) AS json,
         min(id) AS first, max(id) AS last, count(*) AS count
  FROM (SELECT id, recipient, body FROM messages WHERE id > ? ORDER BY id LIMIT ?)
`)
const count = db.prepare("SELECT count(*) AS n FROM messages")

const run = (request: Request): unknown => {
  switch (request.op) {
    case "commit": {
      db.exec("BEGIN IMMEDIATE")
      try {
        const last = request.append.length === 0 ? 0 : Number(insert.run(`[${request.append.join(",")}]`).lastInsertRowid)
        let removed = 0
        for (const { first, last } of request.remove) removed += Number(remove.run(first, last).changes)
        if (request.touch) touch.run(Date.now())
        db.exec("COMMIT")
        return { first: last - request.append.length + 1, removed }
      } catch (error) {
        if (db.isTransaction) db.exec("ROLLBACK")
        throw error
      }
    }
    case "read": {
      const batch = select.get(request.after, request.limit) as { readonly count: number }
      return batch.count === 0 ? undefined : batch
    }
    case "count":
      return Number((count.get() as { n: number }).n)
    case "close":
      db.close()
      return undefined
  }
}

port.on("message", (request: Request) => {
  let response: Response
  try {
    response = { seq: request.seq, ok: true, value: run(request) }
  } catch (error) {
    response = { seq: request.seq, ok: false, error: fail(error) }
  }
  port.postMessage(response)
})
port.postMessage({ opened: true })
