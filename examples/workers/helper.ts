/**
 * The external helper of examples/workers, run as an OS process: it says it
 * is ready, then reports its queue every 400 ms until SIGTERM asks it to stop.
 */
let ticks = 0
console.log("thumbnail cache ready")
const timer = setInterval(() => console.log(`cache: ${++ticks * 3} thumbnails kept`), 400)
process.once("SIGTERM", () => {
  clearInterval(timer)
  console.log("cache: flushed, bye")
})
