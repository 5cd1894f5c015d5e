/**
 * The live tree: one row per child, indented, coloured by state, with its
 * restarts; the last exit shows on hover. Systems open and close; a pool is
 * one summarised row until opened, then its children are read a page at a
 * time as they scroll into view. A search by path lists the matching nodes.
 */
import { useEffect, useMemo, useState } from "preact/hooks"
import * as api from "./api.ts"
import { ago, count, plural } from "./format.ts"
import type { NodeModel, Store } from "./store.ts"
import { poolPageSize } from "./store.ts"
import { VirtualList } from "./VirtualList.tsx"

/** A row: a node the page knows, or the `index`-th child of an opened pool (maybe not read yet). */
type Row = { readonly path: string } | { readonly pool: string; readonly index: number; readonly depth: number }

const layout = (store: Store): Array<Row> => {
  const rows: Array<Row> = []
  const visit = (path: string) => {
    const node = store.nodes.get(path)
    if (node === undefined) return
    rows.push({ path })
    if (!store.expanded.has(path)) return
    if (node.kind === "pool") {
      const total = node.counts?.children ?? 0
      for (let index = 0; index < total; index++) rows.push({ pool: path, index, depth: node.depth + 1 })
    } else {
      for (const child of node.children ?? []) visit(child)
    }
  }
  if (store.root !== undefined) visit(store.root)
  return rows
}

/** How many nodes the tree has: those the page knows, with every pool's children counted, read or not. */
const size = (store: Store): number => {
  let total = 0
  const visit = (path: string) => {
    const node = store.nodes.get(path)
    if (node === undefined) return
    total++
    if (node.kind === "pool") total += node.counts?.children ?? 0
    else for (const child of node.children ?? []) visit(child)
  }
  if (store.root !== undefined) visit(store.root)
  return total
}

const search = (store: Store, query: string): Array<Row> => {
  const needle = query.toLowerCase()
  const rows: Array<Row> = []
  for (const path of store.nodes.keys()) if (path.toLowerCase().includes(needle)) rows.push({ path })
  return rows
}

export const title = (node: NodeModel, now: number): string => {
  const lines = [`${node.path} (${node.kind}, ${node.restart}): ${node.state}`]
  if (node.restarts > 0) lines.push(plural(node.restarts, "restart"))
  if (node.lastExit !== null) {
    lines.push(`last exit (${node.lastExit.kind}, ${ago(node.lastExit.at, now)}): ${node.lastExit.message}`)
  }
  return lines.join("\n")
}

const poolSummary = (node: NodeModel): string => {
  const counts = node.counts
  if (counts === undefined) return ""
  const parts = [plural(counts.children, "child", "children"), `${count(counts.running)} running`]
  if (counts.restarting > 0) parts.push(`${count(counts.restarting)} restarting`)
  if (counts.waiting > 0) parts.push(`${count(counts.waiting)} waiting`)
  return parts.join(" · ")
}

interface TreeRowProps {
  readonly node: NodeModel
  readonly depth: number
  readonly store: Store
  readonly selected: boolean
  readonly onSelect: (path: string) => void
  readonly flat: boolean
}

const TreeRow = ({ node, depth, store, selected, onSelect, flat }: TreeRowProps) => {
  const opens = node.kind !== "worker" && !flat
  const open = store.expanded.has(node.path)
  return (
    <div
      class={`row state-${node.state}${selected ? " selected" : ""}`}
      role="listitem"
      style={{ paddingLeft: `${(flat ? 0 : depth) * 16 + 4}px` }}
      title={title(node, Date.now())}
      data-path={node.path}
      data-state={node.state}
      data-restarts={node.restarts}
      tabIndex={0}
      onClick={() => onSelect(node.path)}
      onKeyDown={(event) => {
        const toggles = opens && ((event.key === "ArrowRight" && !open) || (event.key === "ArrowLeft" && open))
        if (event.key === "Enter" || event.key === " ") onSelect(node.path)
        else if (toggles) store.toggle(node.path)
        else return
        event.preventDefault()
      }}
    >
      <button
        class="caret"
        aria-label={open ? `close ${node.path}` : `open ${node.path}`}
        disabled={!opens}
        onClick={(event) => {
          event.stopPropagation()
          if (opens) store.toggle(node.path)
        }}
      >
        {opens ? (open ? "▾" : "▸") : ""}
      </button>
      <span class="dot" />
      <span class="name">{flat ? node.path : node.name}</span>
      <span class="kind">{node.kind === "worker" ? "" : node.kind}</span>
      <span class="state">{node.state}</span>
      {node.restarts > 0 ? <span class="restarts" title={plural(node.restarts, "restart")}>↻ {count(node.restarts)}</span> : null}
      {node.lastExit !== null && node.lastExit.kind !== "normal" ? <span class="exit">{node.lastExit.kind}</span> : null}
      {node.kind === "pool" ? <span class="summary">{poolSummary(node)}</span> : null}
      {store.gates?.filter((gate) => gate.path === node.path).map((gate) => (
        <span class={`gate-mark gate-${gate.state}`} key={gate.name} title={gate.reason ?? gate.state}>gate {gate.name}: {gate.state}</span>
      ))}
    </div>
  )
}

export interface TreeProps {
  readonly store: Store
  readonly selected: string | undefined
  readonly onSelect: (path: string) => void
}

export const Tree = ({ store, selected, onSelect }: TreeProps) => {
  const [query, setQuery] = useState("")
  const [lookedUp, setLookedUp] = useState<string | undefined>(undefined)
  const structure = store.structure
  const rows = useMemo(() => query === "" ? layout(store) : search(store, query), [structure, query, lookedUp])
  const total = useMemo(() => size(store), [structure])

  // A full path that no loaded node matches may be a pool's child off the pages read: ask the server for it.
  useEffect(() => {
    if (query === "" || !query.includes("/") || rows.length > 0 || lookedUp === query) return
    const timer = setTimeout(() => {
      void api.detail(query).then((detail) => {
        store.pin(detail.node)
        setLookedUp(query)
      }, () => setLookedUp(query))
    }, 250)
    return () => clearTimeout(timer)
  }, [query, rows.length])

  const onRange = (first: number, last: number) => {
    const wanted = new Map<string, Set<number>>()
    for (let i = first; i < last; i++) {
      const row = rows[i]
      if (row === undefined || !("pool" in row)) continue
      let pages = wanted.get(row.pool)
      if (pages === undefined) wanted.set(row.pool, pages = new Set())
      pages.add(Math.floor(row.index / poolPageSize))
    }
    for (const [path, pool] of store.pools) {
      pool.visible = wanted.get(path) ?? new Set()
      for (const page of pool.visible) void store.loadPage(path, page)
    }
  }

  const row = (index: number) => {
    const entry = rows[index]!
    if ("pool" in entry) {
      const page = store.pools.get(entry.pool)?.pages.get(Math.floor(entry.index / poolPageSize))
      const path = page?.[entry.index % poolPageSize]
      const node = path === undefined ? undefined : store.nodes.get(path)
      if (node === undefined) {
        return (
          <div class="row placeholder" role="listitem" key={`${entry.pool}#${entry.index}`} style={{ paddingLeft: `${entry.depth * 16 + 4}px` }}>
            …
          </div>
        )
      }
      return <TreeRow key={node.path} node={node} depth={entry.depth} store={store} selected={node.path === selected} onSelect={onSelect} flat={false} />
    }
    const node = store.nodes.get(entry.path)
    if (node === undefined) return <div class="row" role="listitem" key={entry.path} />
    return (
      <TreeRow key={node.path} node={node} depth={node.depth} store={store} selected={node.path === selected} onSelect={onSelect} flat={query !== ""} />
    )
  }

  return (
    <section class="tree panel" aria-label="supervision tree">
      <header>
        <h2>Tree</h2>
        <input
          type="search"
          placeholder="search by path"
          aria-label="search by path"
          value={query}
          onInput={(event) => {
            store.unpin()
            setQuery(event.currentTarget.value.trim())
          }}
        />
        <span class="muted">{query === "" ? plural(total, "node") : plural(rows.length, "match", "matches")}</span>
      </header>
      <VirtualList count={rows.length} row={row} onRange={onRange} label="tree rows" testId="tree" />
    </section>
  )
}
