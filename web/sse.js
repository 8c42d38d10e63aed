// A Server-Sent Events parser (WHATWG HTML §9.2.6) for streams read with fetch.
//
// EventSource cannot send a POST, and `POST /api/generate` answers with the stream itself, so
// the UI reads response bodies with fetch and parses them here. Pure: no DOM, so node's test
// runner imports it as it is.

/** @typedef {{ type: string, data: string, id: string }} SseEvent */

export class SseParser {
  constructor() {
    this.buffer = "";
    this.type = "";
    this.data = [];
    this.lastEventId = "";
    /** The last `retry:` hint in milliseconds, or null. */
    this.retry = null;
    // A chunk that ended in CR: an LF starting the next chunk belongs to the same line break.
    this.pendingCr = false;
  }

  /**
   * Feeds decoded text; returns the events it completed.
   * @param {string} text
   * @returns {SseEvent[]}
   */
  push(text) {
    if (this.pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const events = [];
    let start = 0;
    for (;;) {
      const match = /\r\n|\r|\n/g;
      match.lastIndex = start;
      const found = match.exec(this.buffer);
      if (!found) break;
      // A lone CR at the very end may be the first half of CRLF split across chunks.
      if (found[0] === "\r" && found.index === this.buffer.length - 1) {
        this.pendingCr = true;
      }
      const event = this.line(this.buffer.slice(start, found.index));
      if (event) events.push(event);
      start = found.index + found[0].length;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** @returns {SseEvent | null} */
  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.type = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
    return null;
  }

  dispatch() {
    const type = this.type || "message";
    this.type = "";
    if (this.data.length === 0) return null;
    const data = this.data.join("\n");
    this.data = [];
    return { type, data, id: this.lastEventId };
  }
}

/**
 * The events of a fetch response body, as they arrive. Ends when the body ends (an event left
 * incomplete by a dropped connection is discarded, as the standard says).
 * @param {Response} response
 * @param {SseParser} [parser]
 * @returns {AsyncGenerator<SseEvent>}
 */
export async function* readEvents(response, parser = new SseParser()) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    ended = true;
  } finally {
    // A consumer that stops early closes the connection rather than leaving it open.
    if (!ended) reader.cancel().catch(() => {});
  }
}
