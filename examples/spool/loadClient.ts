/**
 * The load script's client: one keep-alive HTTP/1.1 connection on a raw
 * socket, one request at a time. It writes each request in one piece and
 * reads only the status line, the content length and the body: on a 2-core
 * machine shared with the server, a full HTTP client would cost as much CPU
 * as the server it measures.
 */
import { connect, type Socket } from "node:net"

export interface Reply {
  readonly status: number
  readonly body: string
}

const headerEnd = Buffer.from("\r\n\r\n")

export class Connection {
  private readonly socket: Socket
  private buffer: Buffer = Buffer.alloc(0)
  private waiting: { readonly resolve: (reply: Reply) => void; readonly reject: (error: Error) => void } | undefined
  private readonly head: string

  private constructor(socket: Socket, host: string) {
    this.socket = socket
    this.head = `POST /messages HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ncontent-length: `
    socket.on("data", (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
      this.parse()
    })
    const fail = (error: Error) => {
      const waiting = this.waiting
      this.waiting = undefined
      waiting?.reject(error)
    }
    socket.on("error", fail)
    socket.on("close", () => fail(new Error("connection closed")))
  }

  /** Opens a connection to `url` (`http://host:port`). */
  static open(url: string): Promise<Connection> {
    const { hostname, port, host } = new URL(url)
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.off("error", reject)
        socket.setNoDelay(true)
        resolve(new Connection(socket, host))
      })
      socket.once("error", reject)
    })
  }

  /** Posts `body` (JSON) to `/messages`; resolves with the status and the body of the answer. */
  post(body: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject }
      this.socket.write(`${this.head}${Buffer.byteLength(body)}\r\n\r\n${body}`)
    })
  }

  close(): void {
    this.socket.destroy()
  }

  private parse(): void {
    const end = this.buffer.indexOf(headerEnd)
    if (end < 0 || this.waiting === undefined) return
    const head = this.buffer.toString("latin1", 0, end)
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
    if (this.buffer.length < end + 4 + length) return
    const status = Number(head.slice(9, 12))
    const body = this.buffer.toString("utf8", end + 4, end + 4 + length)
    this.buffer = this.buffer.subarray(end + 4 + length)
    const waiting = this.waiting
    this.waiting = undefined
    waiting.resolve({ status, body })
  }
}
