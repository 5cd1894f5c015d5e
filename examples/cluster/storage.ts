import type { Storage } from "@arbor/cluster"

/** `--store`: a `postgres://` URL, or else a SQLite file's name. */
export const storageOf = (store: string): Storage.Storage =>
  store.startsWith("postgres://") || store.startsWith("postgresql://")
    ? { kind: "postgres", url: store }
    : { kind: "sqlite", filename: store }
