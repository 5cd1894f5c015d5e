/**
 * The observer's HTTP API as the page uses it. Every URL is relative to the
 * page's own, so the page works behind a reverse proxy that serves it under a
 * path prefix (`https://ops.example.com/arbor/`).
 */
import type { LifecycleEvent } from "../../../core/src/LifecycleEvent.ts"
import type { Detail, Gate, Node, TreeSnapshot as Snapshot } from "../../../core/src/TreeSnapshot.ts"
import type { ProcessSample } from "../../src/internal/processSample.ts"

export type { Detail, Gate, Node, ProcessSample, Snapshot }
export type Event = LifecycleEvent


export interface Histogram {
  readonly path: string
  /** `[upper bound in seconds (null: +Inf), cumulative count]` */
  readonly buckets: ReadonlyArray<readonly [number | null, number]>
  readonly count: number
  readonly sum: number
}

export type NodeDetail = Detail & { readonly startup?: Histogram }


/** The page's directory: `/` directly, `/arbor/` behind a proxy (a missing last slash is added). */
const base = location.origin + (location.pathname.endsWith("/") ? location.pathname : `${location.pathname}/`)

export const url = (path: string): string => base + path

/** A request the server answered with an error status. */
export class HttpError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

export const getJson = async <A>(path: string): Promise<A> => {
  const response = await fetch(url(path), { cache: "no-store" })
  if (!response.ok) throw new HttpError(response.status, `${path}: ${response.status} ${await errorOf(response)}`)
  return response.json() as Promise<A>
}

const errorOf = async (response: Response): Promise<string> => {
  try {
    const body = await response.json() as { error?: string }
    return body.error ?? response.statusText
  } catch {
    return response.statusText
  }
}

export const snapshot = (): Promise<Snapshot> => getJson("tree")

export const detail = (path: string, page?: { offset: number; limit: number }): Promise<NodeDetail> =>
  getJson(`node?path=${encodeURIComponent(path)}${page === undefined ? "" : `&offset=${page.offset}&limit=${page.limit}`}`)

export const controlEnabled = (): Promise<boolean> => getJson<{ enabled: boolean }>("control").then((c) => c.enabled)

/** A control action with the operator's token; resolves with what the server said, refusals included. */
export const act = async (
  action: "terminate" | "restart" | "shutdown",
  path: string,
  token: string
): Promise<{ readonly ok: boolean; readonly status: number; readonly message: string }> => {
  const query = action === "shutdown" ? "" : `?path=${encodeURIComponent(path)}`
  const response = await fetch(url(`control/${action}${query}`), {
    method: "POST",
    headers: token === "" ? {} : { authorization: `Bearer ${token}` }
  })
  if (response.ok) return { ok: true, status: response.status, message: `${action} ${path}: done` }
  return { ok: false, status: response.status, message: `${action} ${path}: refused (${response.status}): ${await errorOf(response)}` }
}

/** The events of health gates, whose state the snapshot tells. */
export const gateTags = ["GateLatched", "GateUnlatched"] as const

/** The events of a tree run as a cluster singleton, whose standing in its cluster the snapshot tells. */
export const clusterTags = ["OwnershipAcquired", "OwnershipReleased", "SingletonRestarting", "ClusterStore"] as const

/** Every kind of lifecycle event the page listens for (named SSE events need a listener each). */
export const eventTags = [
  "ChildStarting",
  "ChildStarted",
  "ChildStartFailed",
  "ChildExited",
  "ChildSettling",
  "ChildInterrupted",
  "SystemRestarting",
  "Escalated",
  "ShutdownRequested",
  "ShutdownCompleted",
  "StallDetected",
  "ControlRequested",
  ...gateTags,
  ...clusterTags
] as const
