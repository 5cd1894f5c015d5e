/**
 * The process's figures over the last interval, as `/process` sends them:
 * memory (bytes), event-loop delay (milliseconds: how late timers ran, the
 * median, the 99th percentile and the worst) and CPU (percent of one core,
 * user and system time together). A module of its own, with no imports, so
 * that the web observer's page shares the type.
 */
export interface ProcessSample {
  readonly at: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly rss: number
  readonly eventLoopDelay: { readonly p50: number; readonly p99: number; readonly max: number }
  readonly cpu: number
}
