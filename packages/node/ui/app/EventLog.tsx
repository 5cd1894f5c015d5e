/**
 * The lifecycle events as they arrive, filtered by path prefix and kind. It
 * follows the newest event while scrolled to the end; scrolled back, it holds
 * still (new events are counted, not shown) until the user resumes.
 */
import { useMemo, useState } from "preact/hooks"
import { eventTags } from "./api.ts"
import { clock, plural } from "./format.ts"
import type { LogEntry, Store } from "./store.ts"
import { VirtualList } from "./VirtualList.tsx"

const matches = (entry: LogEntry, prefix: string, kind: string) =>
  (kind === "" || entry.tag === kind) && (prefix === "" || entry.path.startsWith(prefix))

export const EventLog = ({ store }: { readonly store: Store }) => {
  const [prefix, setPrefix] = useState("")
  const [kind, setKind] = useState("")
  /** The entries shown while paused: the log as it was when the user scrolled back. */
  const [frozen, setFrozen] = useState<ReadonlyArray<LogEntry> | undefined>(undefined)
  const total = store.logDropped + store.log.length

  const live = useMemo(
    () => prefix === "" && kind === "" ? store.log : store.log.filter((entry) => matches(entry, prefix, kind)),
    [total, prefix, kind]
  )
  const shown = frozen ?? live
  const waiting = frozen === undefined ? 0 : live.length - frozen.length

  const row = (index: number) => {
    const entry = shown[index]!
    return (
      <div
        class={`row event${entry.alarming ? " alarming" : ""}`}
        role="listitem"
        key={`${entry.id}-${entry.tag}`}
        data-tag={entry.tag}
        data-path={entry.path}
        title={`#${entry.id} ${entry.tag} ${entry.path}: ${entry.text}`}
      >
        <span class="time">{clock(entry.at)}</span>
        <span class="tag">{entry.tag}</span>
        <span class="path">{entry.path}</span>
        <span class="text">{entry.text}</span>
      </div>
    )
  }

  const resume = () => setFrozen(undefined)
  return (
    <section class="log panel" aria-label="event log">
      <header>
        <h2>Events</h2>
        <input
          type="search"
          placeholder="path prefix"
          aria-label="filter by path prefix"
          value={prefix}
          onInput={(event) => {
            setPrefix(event.currentTarget.value.trim())
            resume()
          }}
        />
        <select
          aria-label="filter by kind"
          value={kind}
          onChange={(event) => {
            setKind(event.currentTarget.value)
            resume()
          }}
        >
          <option value="">all kinds</option>
          {[...eventTags, "Gap"].map((tag) => <option value={tag} key={tag}>{tag}</option>)}
        </select>
        <span class="muted">{plural(live.length, "event")}</span>
        {frozen === undefined ? null : (
          <button class="resume" onClick={resume} data-testid="resume">
            paused{waiting > 0 ? `: ${plural(waiting, "new event")}` : ""} — follow
          </button>
        )}
      </header>
      <VirtualList
        count={shown.length}
        row={row}
        follow={frozen === undefined}
        label="events"
        testId="events"
        onScroll={(atEnd) => {
          if (atEnd && frozen !== undefined) resume()
          else if (!atEnd && frozen === undefined) setFrozen(live.slice())
        }}
      />
    </section>
  )
}
