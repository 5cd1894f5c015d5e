/**
 * What the page knows about the tree, kept up to date by the `/events`
 * stream and, when events alone cannot tell (a child declared anew, a pool's
 * counts, a system back to running after a restart, a gap in the events), a
 * fresh snapshot: at most one a second, and none while nothing happens.
 *
 * Views subscribe and are told at most once per animation frame, however
 * many events arrived in it.
 */
import * as api from "./api.ts"
import { count } from "./format.ts"

export type State = api.Node["state"]

/** A node as the page keeps it: the snapshot's fields, its children's paths, where it sits. */
export interface NodeModel {
  path: string
  name: string
  kind: api.Node["kind"]
  restart: api.Node["restart"]
  state: State
  startedAt: number | null
  restarts: number
  lastExit: api.Node["lastExit"]
  strategy: string | undefined
  counts: api.Node["counts"]
  lastHeartbeat: number | undefined
  callbackFibers: number | undefined
  depth: number
  /** A system's children, in order; a pool's are read by page (see `PoolView`). */
  children: Array<string> | undefined
}

/** An opened pool: its children fetched a page at a time as they scroll into view. */
export interface PoolView {
  readonly pages: Map<number, Array<string>>
  readonly loading: Set<number>
  /** Pages shown in the last frame, refreshed with the snapshot. */
  visible: Set<number>
}

export const poolPageSize = 200

/** One line of the event log; `alarming` for what went wrong (an abnormal exit, a failed start, a give-up, a stall...). */
export interface LogEntry {
  readonly id: number
  readonly at: number
  readonly tag: string
  readonly path: string
  readonly text: string
  readonly alarming: boolean
}

const alarming = (event: api.Event): boolean => {
  switch (event._tag) {
    case "ChildExited":
      return event.exit === "failure" || event.exit === "defect"
    case "ChildStartFailed":
    case "ChildInterrupted":
    case "Escalated":
    case "StallDetected":
    case "GateLatched":
    case "SingletonRestarting":
      return true
    case "ClusterStore":
      return !event.available
    default:
      return false
  }
}

export interface Stall {
  readonly id: number
  readonly at: number
  readonly path: string
  readonly stalledForMillis: number
  readonly where: string
  readonly stack: ReadonlyArray<string>
}

export type Connection = "connecting" | "live" | "reconnecting" | "ended"

const logLimit = 20_000
const processLimit = 120

/** How far back the restart charts go. */
export const historyMinutes = 10

/** A one-line summary of an event for the log. */
const describe = (event: api.Event): string => {
  switch (event._tag) {
    case "ChildStarting":
      return event.restarts === 0 ? `starting (${event.kind})` : `starting again (${event.kind}, restart ${event.restarts})`
    case "ChildStarted":
      return `running after ${event.startupMillis} ms`
    case "ChildStartFailed":
      return `startup failed: ${event.message}`
    case "ChildExited":
      return `exited (${event.exit}): ${event.message}; ${event.decision}`
    case "ChildSettling":
      return `asked to settle within ${event.budget}`
    case "ChildInterrupted":
      return `did not settle within ${event.budget}; interrupted`
    case "SystemRestarting":
      return `restarting for ${event.child} (${event.strategy}); ${count(event.restart)} of ${count(event.maxRestarts)} in the window` +
        (event.delayMillis > 0 ? `, after ${event.delayMillis} ms` : "")
    case "Escalated":
      return `gave up: ${event.message}`
    case "ShutdownRequested":
      return `shutdown requested (${event.reason})`
    case "ShutdownCompleted":
      return `shutdown complete: ${event.stopped} stopped, ${event.forced} interrupted`
    case "StallDetected":
      return `event loop stalled for ${event.stalledForMillis} ms at ${event.where}`
    case "ControlRequested":
      return `${event.action} requested by ${event.by}`
    case "GateLatched":
      return `health gate ${event.gate} latched: ${event.reason}`
    case "GateUnlatched":
      return `health gate ${event.gate} cleared (${event.by}) after ${event.latchedMillis} ms`
    case "OwnershipAcquired":
      return `runs on ${event.runner} (fencing token ${event.fencingToken})` +
        (event.previousOwner === null ? "" : `, after ${event.previousOwner}`)
    case "OwnershipReleased":
      return `no longer runs on ${event.runner} (fencing token ${event.fencingToken}): ${event.reason}`
    case "SingletonRestarting":
      return `gave up on ${event.runner}: ${event.message}; starts again after ${event.delayMillis} ms`
    case "ClusterStore":
      return event.available ? `the cluster's store is back (${event.runner})` : `the cluster's store is unreachable from ${event.runner}: ${event.message}`
  }
}

/** Whether an event about a pool's child changes the pool's counts: a child spawned, or gone for good. */
const changesPoolCounts = (event: api.Event): boolean =>
  (event._tag === "ChildStarting" && event.restarts === 0) || (event._tag === "ChildExited" && event.decision !== "restart")

/** Events after which the snapshot says more than the events did. */
const needsSnapshot = new Set<string>(["Escalated", "ChildStartFailed", ...api.gateTags, ...api.clusterTags])

const parentOf = (path: string): string => path.slice(0, path.lastIndexOf("/"))

/** A snapshot node as the page keeps it, `depth` levels under the root. */
export const modelOf = (node: api.Node, depth: number): NodeModel => ({
  path: node.path,
  name: node.name,
  kind: node.kind,
  restart: node.restart,
  state: node.state,
  startedAt: node.startedAt,
  restarts: node.restarts,
  lastExit: node.lastExit,
  strategy: node.strategy,
  counts: node.counts,
  lastHeartbeat: node.lastHeartbeat,
  callbackFibers: node.callbackFibers,
  depth,
  children: node.kind === "pool" ? undefined : node.children?.map((child) => child.path)
})

/** Remembers a time under `path`, forgetting those older than the charts show. */
const pushTime = (times: Map<string, Array<number>>, path: string, at: number): void => {
  let list = times.get(path)
  if (list === undefined) times.set(path, list = [])
  list.push(at)
  const horizon = at - historyMinutes * 60_000
  let old = 0
  while (old < list.length && list[old]! < horizon) old++
  if (old > 0) list.splice(0, old)
}

export class Store {
  name = ""
  root: string | undefined
  nodes = new Map<string, NodeModel>()
  gates: ReadonlyArray<api.Gate> | undefined
  /** Where a tree run as a cluster singleton stands in its cluster. */
  cluster: api.Snapshot["cluster"]
  expanded = new Set<string>()
  pools = new Map<string, PoolView>()
  /** Nodes the page knows only because a search asked the server for them (a pool's child off the pages read). */
  pinned = new Set<string>()
  /** Bumped when the shape of the tree or what is opened changes: the tree's rows are laid out again. */
  structure = 0
  log: Array<LogEntry> = []
  /** Entries dropped from the front of `log` so far, so that an entry's position stays known. */
  logDropped = 0
  stalls: Array<Stall> = []
  /** Restart times by path: a child's own restarts. */
  restartsAt = new Map<string, Array<number>>()
  /** Restart times by path: the restarts a system or pool made of its children. */
  restartsMadeAt = new Map<string, Array<number>>()
  samples: Array<api.ProcessSample> = []
  connection: Connection = "connecting"
  /** The tree's last event was its `ShutdownCompleted`: when the stream then ends, it is for good. */
  treeStopped = false
  snapshotAt = 0
  controlEnabled = false
  /** When the first tree was painted (ms since navigation), for the page's own measurements. */
  firstRender: number | undefined

  private listeners = new Set<() => void>()
  private frame: number | undefined
  private refreshTimer: ReturnType<typeof setTimeout> | undefined
  private lastRefresh = 0
  private refreshing = false
  /**
   * The events applied while a snapshot is read: the snapshot may have been
   * taken before some of them, so they are applied again on top of it.
   */
  private sinceRead: Array<api.Event> = []
  private detailListeners = new Map<string, Set<() => void>>()

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  /** Views are told once per animation frame, however many changes it had. */
  changed(): void {
    if (this.frame !== undefined) return
    this.frame = requestAnimationFrame(() => {
      this.frame = undefined
      for (const listener of this.listeners) listener()
    })
  }

  /** Calls `listener` (at most once a second) when an event about `path` arrives: the detail panel reads it again. */
  watch(path: string, listener: () => void): () => void {
    let set = this.detailListeners.get(path)
    if (set === undefined) this.detailListeners.set(path, set = new Set())
    set.add(listener)
    return () => void set.delete(listener)
  }

  /** Replaces what is known of the tree with `snapshot`, keeping what is opened and the pool pages on view. */
  applySnapshot(snapshot: api.Snapshot): void {
    const nodes = new Map<string, NodeModel>()
    const first = this.root === undefined
    const walk = (node: api.Node, depth: number) => {
      nodes.set(node.path, modelOf(node, depth))
      if (first && node.kind === "system") this.expanded.add(node.path)
      if (node.kind !== "pool") for (const child of node.children ?? []) walk(child, depth + 1)
    }
    walk(snapshot.root, 0)
    // Children of opened pools stay, as last read: their pages are read again below. So do nodes found by a search.
    for (const path of this.pinned) {
      const known = this.nodes.get(path)
      if (known !== undefined && nodes.has(parentOf(path))) nodes.set(path, known)
    }
    for (const [path, pool] of this.pools) {
      if (!nodes.has(path)) {
        this.pools.delete(path)
        continue
      }
      for (const page of pool.pages.values()) for (const child of page) {
        const known = this.nodes.get(child)
        if (known !== undefined) nodes.set(child, known)
      }
    }
    this.nodes = nodes
    this.root = snapshot.root.path
    this.name = snapshot.root.name
    this.gates = snapshot.gates
    this.cluster = snapshot.cluster
    this.snapshotAt = snapshot.at
    this.structure++
    this.changed()
  }

  /** Reads the snapshot again soon: at once if none was read for a second, else a second after the last. */
  refreshSoon(): void {
    if (this.refreshTimer !== undefined) return
    const wait = Math.max(0, this.lastRefresh + 1000 - Date.now())
    this.refreshTimer = setTimeout(() => void this.refresh(), wait)
  }

  async refresh(): Promise<void> {
    this.refreshTimer = undefined
    if (this.refreshing) return this.refreshSoon()
    this.refreshing = true
    this.lastRefresh = Date.now()
    try {
      this.sinceRead = []
      const snapshot = await api.snapshot()
      this.applySnapshot(snapshot)
      for (const event of this.sinceRead) if (event.at >= snapshot.at) this.update(event, false)
      // The pages on view are read again (and shown as they were meanwhile); the others when they come into view.
      for (const [path, pool] of this.pools) {
        for (const page of pool.pages.keys()) if (!pool.visible.has(page)) pool.pages.delete(page)
        for (const page of pool.visible) void this.loadPage(path, page, true)
      }
    } catch {
      // The server went away (the tree stopped): the event stream says so.
    } finally {
      this.refreshing = false
      this.sinceRead = []
    }
  }

  /** Keeps `node`, found by a search, until the search changes. */
  pin(node: api.Node): void {
    this.nodes.set(node.path, modelOf(node, (this.nodes.get(parentOf(node.path))?.depth ?? 0) + 1))
    this.pinned.add(node.path)
    this.changed()
  }

  unpin(): void {
    this.pinned.clear()
  }

  toggle(path: string): void {
    const node = this.nodes.get(path)
    if (node === undefined) return
    if (this.expanded.has(path)) {
      this.expanded.delete(path)
      this.pools.delete(path)
    } else {
      this.expanded.add(path)
      if (node.kind === "pool") this.pools.set(path, { pages: new Map(), loading: new Set(), visible: new Set() })
    }
    this.structure++
    this.changed()
  }

  /** Reads page `page` of the opened pool at `path`, unless it is being read, or read already and not `again`. */
  async loadPage(path: string, page: number, again = false): Promise<void> {
    const pool = this.pools.get(path)
    if (pool === undefined || (pool.pages.has(page) && !again) || pool.loading.has(page)) return
    pool.loading.add(page)
    try {
      const detail = await api.detail(path, { offset: page * poolPageSize, limit: poolPageSize })
      const parent = this.nodes.get(path)
      if (parent === undefined || this.pools.get(path) !== pool) return
      parent.counts = detail.node.counts
      const children = detail.node.children ?? []
      for (const child of children) this.nodes.set(child.path, modelOf(child, parent.depth + 1))
      pool.pages.set(page, children.map((child) => child.path))
      this.changed()
    } catch {
      // Tried again when the page is on view at the next frame.
    } finally {
      pool.loading.delete(page)
    }
  }

  /** An event from `/events`: logged, remembered where it tells a history, and applied to the tree if it is newer than the snapshot. */
  applyEvent(id: number, event: api.Event): void {
    this.appendLog({ id, at: event.at, tag: event._tag, path: event.path, text: describe(event), alarming: alarming(event) })
    this.remember(id, event)
    if (event.at >= this.snapshotAt) this.update(event)
    if (this.refreshing) this.sinceRead.push(event)
    for (const listener of this.detailListeners.get(event.path) ?? []) listener()
    this.changed()
  }

  /** Events were lost to this page (it was away too long): the snapshot tells where things stand. */
  gap(missed: number, after: number): void {
    this.appendLog({
      id: after,
      at: Date.now(),
      tag: "Gap",
      path: "",
      text: `${missed} events missed after #${after}; the tree was read again`,
      alarming: true
    })
    void this.refresh()
    this.changed()
  }

  private appendLog(entry: LogEntry): void {
    this.log.push(entry)
    if (this.log.length > logLimit * 1.25) {
      const drop = this.log.length - logLimit
      this.log.splice(0, drop)
      this.logDropped += drop
    }
  }

  private remember(id: number, event: api.Event): void {
    if (event._tag === "ChildStarting" && event.restarts > 0) pushTime(this.restartsAt, event.path, event.at)
    else if (event._tag === "SystemRestarting") pushTime(this.restartsMadeAt, event.path, event.at)
    else if (event._tag === "StallDetected") {
      this.stalls.unshift({
        id,
        at: event.at,
        path: event.path,
        stalledForMillis: event.stalledForMillis,
        where: event.where,
        stack: event.stack ?? []
      })
      this.stalls.length = Math.min(this.stalls.length, 50)
    }
  }


  /**
   * Applies an event to the node it is about. The snapshot is read again
   * (soon, see `refreshSoon`) only where the event does not tell all: a child
   * the page has not seen (declared anew, or a pool's new child), a child
   * gone for good, a system back to running after a group restart (no event
   * says so), a pool's counts, a failed start or an escalation.
   */
  private update(event: api.Event, live = true): void {
    // Applied again on a fresh snapshot (`live` false), an event asks for no further snapshot.
    const refreshSoon = live ? () => this.refreshSoon() : () => undefined
    // A cluster singleton's tree starts again on this runner: its stream goes on.
    if (event.path === this.root && event._tag !== "ShutdownCompleted") this.treeStopped = false
    const node = this.nodes.get(event.path)
    if (needsSnapshot.has(event._tag)) refreshSoon()
    if (node === undefined) {
      // A child declared anew; or a pool's child off the pages read, which counts only when it comes or goes.
      const parent = this.nodes.get(parentOf(event.path))
      if (parent !== undefined && (parent.kind !== "pool" || changesPoolCounts(event))) refreshSoon()
      return
    }
    switch (event._tag) {
      case "ChildStarting":
        node.state = "starting"
        node.restarts = event.restarts
        break
      case "ChildStarted":
        node.state = "running"
        node.startedAt = event.at
        // No event says when a group restart is over: the snapshot does, once its children run again.
        if (this.nodes.get(parentOf(event.path))?.state === "restarting") refreshSoon()
        break
      case "ChildStartFailed":
        node.state = "stopped"
        node.lastExit = { kind: "failure", message: event.message, at: event.at }
        break
      case "ChildExited":
        node.lastExit = { kind: event.exit, message: event.message, at: event.at }
        node.state = event.decision === "restart" ? "restarting" : "stopped"
        // A temporary child that ended is forgotten, and so is a pool's child that stays down.
        if (event.decision !== "restart" && (node.restart === "temporary" || this.nodes.get(parentOf(event.path))?.kind === "pool")) {
          refreshSoon()
        }
        break
      case "ChildSettling":
        node.state = "settling"
        break
      case "SystemRestarting":
        if (event.strategy === "one_for_all" || event.strategy === "rest_for_one") {
          node.state = "restarting"
          refreshSoon()
        } else if (event.delayMillis > 0) {
          // The child waits for its backoff: a pool counts it as restarting.
          refreshSoon()
        }
        break
      case "ShutdownRequested":
        if (event.path === this.root) node.state = "settling"
        break
      case "ShutdownCompleted":
        if (event.path === this.root) {
          node.state = "stopped"
          this.treeStopped = true
        }
        break
    }
  }

  addSample(sample: api.ProcessSample): void {
    this.samples.push(sample)
    if (this.samples.length > processLimit) this.samples.shift()
    this.changed()
  }

  setConnection(connection: Connection): void {
    if (this.connection === "ended" || this.connection === connection) return
    this.connection = connection
    this.changed()
  }
}

export const store = new Store()
