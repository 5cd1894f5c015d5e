/** Small SVG charts: a line of recent values, and bars. */

export interface SparklineProps {
  readonly label: string
  readonly values: ReadonlyArray<number>
  /** How the latest value reads: `"42 MB"`. */
  readonly format: (value: number) => string
  /** The chart's top at least this (a flat line of small values stays low). */
  readonly floor?: number
}

const width = 220
const height = 44

export const Sparkline = ({ label, values, format, floor = 0 }: SparklineProps) => {
  const top = Math.max(floor, ...values) || 1
  const step = values.length > 1 ? width / (values.length - 1) : width
  const points = values.map((value, i) => `${(i * step).toFixed(1)},${(height - (value / top) * (height - 2) - 1).toFixed(1)}`)
  const last = values.at(-1)
  return (
    <figure class="spark" data-testid={`chart-${label}`}>
      <figcaption>
        <span>{label}</span>
        <strong>{last === undefined ? "…" : format(last)}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`${label} over the last ${values.length} s`}>
        <polyline points={points.join(" ")} fill="none" stroke="currentColor" stroke-width="1.5" />
      </svg>
      <small>max {format(Math.max(0, ...values))}</small>
    </figure>
  )
}

export interface BarsProps {
  readonly label: string
  readonly bars: ReadonlyArray<{ readonly label: string; readonly value: number }>
  readonly caption?: string
}

export const Bars = ({ label, bars, caption }: BarsProps) => {
  const top = Math.max(1, ...bars.map((bar) => bar.value))
  const barWidth = width / Math.max(1, bars.length)
  return (
    <figure class="bars" data-testid={`bars-${label}`}>
      <figcaption>{label}</figcaption>
      <svg viewBox={`0 0 ${width} ${height + 12}`} width={width} height={height + 12} role="img" aria-label={label}>
        {bars.map((bar, i) => {
          const h = (bar.value / top) * (height - 2)
          return (
            <g key={i}>
              <title>{`${bar.label}: ${bar.value}`}</title>
              <rect x={i * barWidth + 1} y={height - h} width={Math.max(1, barWidth - 2)} height={h} />
            </g>
          )
        })}
        <text x="0" y={height + 11}>{bars[0]?.label}</text>
        <text x={width} y={height + 11} text-anchor="end">{bars.at(-1)?.label}</text>
      </svg>
      {caption === undefined ? null : <small>{caption}</small>}
    </figure>
  )
}
