import type { Node, PoolCounts } from "../TreeSnapshot.ts"
import type { ChildRecord, Supervising } from "./child.ts"

/** The snapshot node of a child, with its children if it is a running system or pool. */
const nodeOf = (child: ChildRecord, poolLimit: number): Node => {
  const node: Node = {
    path: child.path,
    name: child.spec.name,
    kind: child.spec.kind,
    restart: child.spec.config.restart,
    state: child.shownState,
    startedAt: child.startedAt ?? null,
    restarts: child.restarts,
    lastExit: child.lastExit ?? null,
    ...(child.spec.config.deadline !== undefined && child.lifecycle !== undefined
      ? { lastHeartbeat: child.lifecycle.lastHeartbeat }
      : {}),
    ...(child.lifecycle?.callbackFibers !== undefined ? { callbackFibers: child.lifecycle.callbackFibers } : {})
  }
  const inner = child.state === "stopped" ? undefined : child.inner
  return inner === undefined ? node : { ...node, ...innerOf(inner, poolLimit) }
}

/** What a system or pool adds to its node: its strategy, or a pool's counts; and its children. */
export const innerOf = (inner: Supervising, poolLimit: number): Pick<Node, "strategy" | "counts" | "children"> => {
  const children = inner.list()
  if (inner.strategy !== undefined) {
    return { strategy: inner.strategy, children: children.map((child) => nodeOf(child, poolLimit)) }
  }
  const counts: { -readonly [K in keyof PoolCounts]: number } = {
    children: children.length,
    running: 0,
    restarting: 0,
    waiting: inner.waiting ?? 0
  }
  for (const child of children) {
    if (child.state === "running") counts.running++
    else if (child.state === "restarting") counts.restarting++
  }
  return { counts, children: children.slice(0, poolLimit).map((child) => nodeOf(child, poolLimit)) }
}
