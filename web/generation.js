// Follows one generation's event stream to its end, across dropped connections.
//
// The stream is the POST's own response at first. When it ends without a terminal event (a
// network drop, a proxy timeout), the stream resumes at GET …/events?last_event_id=N, so every
// event arrives exactly once and in order: the log on the server numbers them, and anything
// at or below the last number seen is skipped. No DOM here: the UI passes handlers.

import { ApiError, getGeneration, newKey, openEvents, postGenerate } from "./api.js";
import { SseParser, readEvents } from "./sse.js";

const TERMINAL = new Set(["completed", "error"]);
/** Reconnection attempts in a row, without a new event, before giving up. */
const MAX_ATTEMPTS = 8;
const MAX_DELAY_MS = 15000;

/**
 * @typedef {object} Handlers
 * @property {(type: string, data: any, id: number) => void} event  every new event, in order
 * @property {(state: "open" | "reconnecting", detail?: {attempt: number, delayMs: number}) => void} connection
 */

export class GenerationStream {
  /** @param {Handlers} handlers */
  constructor(handlers) {
    this.handlers = handlers;
    /** The generation's id, once known (from `started`, or given to resume). */
    this.id = null;
    /** The number of the last event handled. */
    this.lastId = 0;
    this.done = false;
    this.retryMs = 1000;
    this.abort = new AbortController();
    this.wake = null;
  }

  /** Stops following (the generation itself goes on; see `cancelGeneration`). */
  close() {
    this.abort.abort();
  }

  /** Skips the wait before the next reconnection attempt (e.g. when the browser is back online). */
  retryNow() {
    this.wake?.();
  }

  /**
   * Starts a generation (or, with `post` = a refine's request, a refine) and follows it.
   * Resolves when its terminal event has been handled; rejects with an ApiError when the
   * request is refused or the stream is lost for good.
   */
  async start(body, post = postGenerate) {
    const idempotencyKey = newKey();
    for (let attempt = 1; this.id === null; attempt++) {
      try {
        const response = await post(body, { idempotencyKey, signal: this.abort.signal });
        await this.consume(response);
        if (this.done) return;
      } catch (err) {
        // A refusal (422, 429, 503…) is the person's to see, not ours to repeat.
        if (!unanswered(err) || attempt >= MAX_ATTEMPTS) throw err;
      }
      // Lost before `started`: the same key attaches the repeat to the same generation.
      if (this.id === null) await this.backoff(attempt);
    }
    await this.follow();
  }

  /** Follows an existing generation from after event `lastId`. */
  async resume(id, lastId = 0) {
    this.id = id;
    this.lastId = lastId;
    await this.follow();
  }

  async follow() {
    let attempt = 0;
    while (!this.done) {
      if (attempt > 0) {
        if (attempt > MAX_ATTEMPTS) {
          throw new ApiError(0, {
            code: "connection_lost",
            message: "The connection to the server was lost.",
          });
        }
        await this.backoff(attempt);
      }
      const before = this.lastId;
      try {
        const response = await openEvents(this.id, this.lastId, { signal: this.abort.signal });
        await this.consume(response);
        if (this.done) return;
        // Ended with nothing new: it may have finished while we were away, after its log left
        // the server's memory. Its stored status says.
        if (this.lastId === before && (await this.settleFromStatus())) return;
      } catch (err) {
        if (!transient(err)) throw err;
      }
      attempt = this.lastId > before ? 1 : attempt + 1;
    }
  }

  async consume(response) {
    this.handlers.connection("open");
    const parser = new SseParser();
    for await (const event of readEvents(response, parser)) {
      if (parser.retry !== null) this.retryMs = parser.retry;
      const id = Number(event.id);
      if (!Number.isSafeInteger(id) || id <= this.lastId) continue;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        continue;
      }
      this.lastId = id;
      if (event.type === "started" && this.id === null) this.id = data.generation_id;
      this.handlers.event(event.type, data, id);
      if (TERMINAL.has(event.type)) {
        this.done = true;
        return;
      }
    }
  }

  /** Turns a finished generation's stored status into its terminal event. */
  async settleFromStatus() {
    const status = await getGeneration(this.id);
    if (status.status === "running") return false;
    const id = this.lastId + 1;
    this.lastId = id;
    this.done = true;
    if (status.status === "completed" && status.live_url) {
      this.handlers.event(
        "completed",
        {
          page_id: status.page_id,
          live_url: status.live_url,
          title: "",
          usage: status.usage ?? { prompt_tokens: 0, completion_tokens: 0, cost: null },
          fallback: false,
          duration_ms: status.duration_ms ?? 0,
          version: status.version ?? (status.refines ? null : 1),
        },
        id,
      );
    } else {
      const code = status.error_code || (status.status === "cancelled" ? "cancelled" : "internal");
      this.handlers.event(
        "error",
        {
          code,
          message: status.error_message || "The generation did not finish.",
          retryable: code !== "cancelled" && code !== "upstream_rejected",
        },
        id,
      );
    }
    return true;
  }

  /** Waits before reconnection attempt `attempt` (from 1): the server's hint, doubled each time. */
  backoff(attempt) {
    const base = Math.min(this.retryMs * 2 ** (attempt - 1), MAX_DELAY_MS);
    const delayMs = Math.round(base * (0.75 + Math.random() * 0.5));
    this.handlers.connection("reconnecting", { attempt, delayMs });
    return new Promise((resolve, reject) => {
      const signal = this.abort.signal;
      if (signal.aborted) return reject(signal.reason);
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", aborted);
        this.wake = null;
        resolve();
      };
      const aborted = () => {
        clearTimeout(timer);
        this.wake = null;
        reject(signal.reason);
      };
      const timer = setTimeout(finish, delayMs);
      this.wake = finish;
      signal.addEventListener("abort", aborted, { once: true });
    });
  }
}

/** No answer at all, or a stream broken off. */
function unanswered(err) {
  return err instanceof TypeError || (err instanceof ApiError && err.status === 0);
}

/** Errors worth another attempt: no answer, a broken stream, 429 and 5xx. */
function transient(err) {
  if (err?.name === "AbortError") return false;
  if (err instanceof ApiError) return err.transient;
  // fetch's body reader fails with a TypeError when the connection drops mid-stream.
  return err instanceof TypeError;
}
