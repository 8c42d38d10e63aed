// LivePage's HTTP API as the UI uses it. URLs are relative to the page, so the UI also works
// behind a proxy that mounts the service under a path.

/** An answer other than 2xx, or no answer at all (status 0, code "network"). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{code?: string, message?: string, field?: string}} error
   * @param {number | null} retryAfter seconds, from the Retry-After header
   */
  constructor(status, error, retryAfter = null) {
    super(error.message || `request failed (${status})`);
    this.name = "ApiError";
    this.status = status;
    this.code = error.code || (status === 0 ? "network" : "http_" + status);
    this.field = error.field || null;
    this.retryAfter = retryAfter;
  }

  /** Whether the same request may succeed later. */
  get transient() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

async function request(path, init = {}) {
  let response;
  try {
    response = await fetch(path, { credentials: "same-origin", ...init });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { message: "The server could not be reached." });
  }
  if (response.ok) return response;
  let error = {};
  try {
    error = (await response.json()).error || {};
  } catch {
    // Not our JSON shape (a proxy's error page, say): keep the status alone.
  }
  const retryAfter = Number.parseInt(response.headers.get("retry-after") ?? "", 10);
  throw new ApiError(response.status, error, Number.isFinite(retryAfter) ? retryAfter : null);
}

async function json(path, init) {
  return (await request(path, { headers: { accept: "application/json" }, ...init })).json();
}

/** `GET /api/options`: page types, themes, models, demo mode and limits. */
export function getOptions() {
  return json("api/options");
}

/** `GET /api/history`: one batch of an email's pages, newest first. */
export function getHistory(email, { before = null, limit = 10 } = {}) {
  const query = new URLSearchParams({ email, limit: String(limit) });
  if (before) query.set("before", before);
  return json(`api/history?${query}`);
}

/** `GET /api/generations/{id}`: a generation's stored status. */
export function getGeneration(id) {
  return json(`api/generations/${encodeURIComponent(id)}`);
}

/** `POST /api/generations/{id}/cancel`. */
export function cancelGeneration(id) {
  return json(`api/generations/${encodeURIComponent(id)}/cancel`, { method: "POST" });
}

/**
 * `POST /api/generate`: the response is the generation's event stream.
 * The idempotency key makes a repeat of the same request (after a connection lost before the
 * first event) attach to the generation it already started instead of starting another.
 */
export function postGenerate(body, { idempotencyKey, signal }) {
  return request("api/generate", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "text/event-stream",
      "idempotency-key": idempotencyKey,
    },
    body: JSON.stringify(body),
    signal,
  });
}

/** `GET /api/generations/{id}/events`: the stream after event `lastEventId`, with previews. */
export function openEvents(id, lastEventId, { signal }) {
  const query = new URLSearchParams({ last_event_id: String(lastEventId), preview: "true" });
  return request(`api/generations/${encodeURIComponent(id)}/events?${query}`, {
    headers: { accept: "text/event-stream" },
    cache: "no-store",
    signal,
  });
}

/** A random key, also where `crypto.randomUUID` is missing (plain-HTTP origins). */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
