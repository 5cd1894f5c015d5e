/**
 * A list that renders only the rows in view (plus a few around them), so a
 * tree of 10,000 children or a log of 20,000 events costs what 40 rows cost.
 * Rows have a fixed height.
 */
import type { ComponentChildren, Ref } from "preact"
import { useLayoutEffect, useRef, useState } from "preact/hooks"

export const rowHeight = 22
const overscan = 8

export interface VirtualListProps {
  readonly count: number
  readonly row: (index: number) => ComponentChildren
  /** Told which rows are in view after each render (a pool reads their pages). */
  readonly onRange?: (first: number, last: number) => void
  /** Told when the user scrolls: whether the list is at its end. */
  readonly onScroll?: (atEnd: boolean) => void
  /** Keeps the view at the end as rows are added. */
  readonly follow?: boolean
  readonly label: string
  readonly testId?: string
}

export const VirtualList = ({ count, row, onRange, onScroll, follow = false, label, testId }: VirtualListProps) => {
  const container = useRef<HTMLDivElement>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const [height, setHeight] = useState(400)

  useLayoutEffect(() => {
    const element = container.current
    if (element === null) return
    const observer = new ResizeObserver(() => setHeight(element.clientHeight))
    observer.observe(element)
    setHeight(element.clientHeight)
    return () => observer.disconnect()
  }, [])

  useLayoutEffect(() => {
    const element = container.current
    if (element !== null && follow) {
      element.scrollTop = element.scrollHeight
      setScrollTop(element.scrollTop)
    }
  }, [follow, count])

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan)
  const last = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + overscan)

  useLayoutEffect(() => {
    onRange?.(first, last)
  })

  const rows: Array<ComponentChildren> = []
  for (let index = first; index < last; index++) rows.push(row(index))

  return (
    <div
      class="virtual"
      ref={container as Ref<HTMLDivElement>}
      role="list"
      aria-label={label}
      data-testid={testId}
      onScroll={(event) => {
        const element = event.currentTarget
        setScrollTop(element.scrollTop)
        onScroll?.(element.scrollTop + element.clientHeight >= element.scrollHeight - rowHeight)
      }}
    >
      <div style={{ height: `${count * rowHeight}px`, position: "relative" }}>
        <div style={{ transform: `translateY(${first * rowHeight}px)` }}>{rows}</div>
      </div>
    </div>
  )
}
