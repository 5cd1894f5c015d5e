import * as Duration from "effect/Duration"
import type { Node, PoolCounts, Settings } from "../TreeSnapshot.ts"
import type { ChildRecord, Supervising } from "./child.ts"
import type { Budget, ChildConfig } from "./options.ts"

/** Which of a system's or pool's children a node lists: all of them, or a page. */
export interface Page {
  readonly offset: number
  readonly limit: number
}

/** The snapshot node of a child, with its children if it is a running system or pool (`page` of them, if given). */
export const nodeOf = (child: ChildRecord, poolLimit: number, page?: Page): Node => {
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
  return inner === undefined ? node : { ...node, ...innerOf(inner, poolLimit, page) }
}

/**
 * What a system or pool adds to its node: its strategy, or a pool's counts;
 * and its children: all of a system's and at most `poolLimit` of a pool's,
 * or the `page` of them asked for.
 */
export const innerOf = (inner: Supervising, poolLimit: number, page?: Page): Pick<Node, "strategy" | "counts" | "children"> => {
  const children = inner.list()
  const listed = page !== undefined
    ? children.slice(page.offset, page.offset + page.limit)
    : inner.strategy !== undefined ? children : children.slice(0, poolLimit)
  const nodes = listed.map((child) => nodeOf(child, poolLimit))
  if (inner.strategy !== undefined) return { strategy: inner.strategy, children: nodes }
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
  return { counts, children: nodes }
}

const formatBudget = (budget: Budget): string => typeof budget === "string" ? budget : Duration.format(budget)

/** A child's settings as inspection shows them. */
export const settingsOf = (config: ChildConfig): Settings => ({
  shutdown: formatBudget(config.shutdown),
  ...(config.startTimeout === undefined ? {} : { startTimeout: Duration.format(config.startTimeout) }),
  ...(config.deadline === undefined ? {} : { deadline: Duration.format(config.deadline) }),
  significant: config.significant
})
