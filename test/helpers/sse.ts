// Reads a server-sent event stream (the dashboard's /api/events) with fetch, one message at a time.

export interface SseMessage {
  event: string;
  id: string | undefined;
  data: unknown;
}

export class SseReader {
  private buffer = "";
  private readonly reader: ReadableStreamDefaultReader<string>;

  private constructor(readonly response: Response, private readonly abort: AbortController) {
    if (response.body === null) throw new Error("the response has no body");
    this.reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const abort = new AbortController();
    const response = await fetch(url, { headers, signal: abort.signal });
    if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
    return new SseReader(response, abort);
  }

  /** The next message with data (comments and bare `retry:` lines skipped); throws when the stream ends first. */
  async next(): Promise<SseMessage> {
    for (;;) {
      const boundary = this.buffer.indexOf("\n\n");
      if (boundary >= 0) {
        const block = this.buffer.slice(0, boundary);
        this.buffer = this.buffer.slice(boundary + 2);
        const message = parse(block);
        if (message) return message;
        continue;
      }
      const { value, done } = await this.reader.read();
      if (done) throw new Error("the event stream ended");
      this.buffer += value;
    }
  }

  /** Messages until one satisfies `until` (included). */
  async readUntil(until: (message: SseMessage) => boolean): Promise<SseMessage[]> {
    const read: SseMessage[] = [];
    for (;;) {
      const message = await this.next();
      read.push(message);
      if (until(message)) return read;
    }
  }

  close(): void {
    this.abort.abort();
  }
}

function parse(block: string): SseMessage | null {
  let event = "message";
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  return data.length === 0 ? null : { event, id, data: JSON.parse(data.join("\n")) as unknown };
}
