/** How the page writes times, durations and sizes. */

export const clock = (at: number): string => {
  const date = new Date(at)
  return `${date.toTimeString().slice(0, 8)}.${String(date.getMilliseconds()).padStart(3, "0")}`
}

export const duration = (millis: number): string => {
  if (millis < 1000) return `${Math.round(millis)} ms`
  const seconds = Math.floor(millis / 1000)
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`
  const hours = Math.floor(minutes / 60)
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} d ${hours % 24} h`
}

export const ago = (at: number, now: number): string => `${duration(Math.max(0, now - at))} ago`

export const megabytes = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`

export const count = (n: number): string => n.toLocaleString("en-US")

export const plural = (n: number, one: string, many = `${one}s`): string => `${count(n)} ${n === 1 ? one : many}`
