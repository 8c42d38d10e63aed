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

const OWNER_KEY = "livepage.owner-key";
const OWNER_KEY_RE = /^[A-Za-z0-9_-]{32,128}$/;

/**
 * This browser's owner key: the secret that makes the pages it generates its own (only the
 * server's SHA-256 of it is stored). Made once, from `crypto.getRandomValues` (48 URL-safe
 * characters, 288 bits), and kept in localStorage; where storage is refused (private mode),
 * one per tab.
 */
export function ownerKey() {
  try {
    const kept = localStorage.getItem(OWNER_KEY);
    if (kept && OWNER_KEY_RE.test(kept)) return kept;
  } catch {
    // No storage: fall through to a key for this tab.
  }
  ownerKey.made ??= makeOwnerKey();
  try {
    localStorage.setItem(OWNER_KEY, ownerKey.made);
  } catch {
    // Private mode: the key lives as long as the tab.
  }
  return ownerKey.made;
}

function makeOwnerKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(36));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

function owned(headers = {}) {
  return { ...headers, authorization: `Bearer ${ownerKey()}` };
}

/** `GET /api/history` with the owner key: one batch of this browser's pages, newest first. */
export function getHistory({ before = null, limit = 10 } = {}) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before) query.set("before", before);
  return json(`api/history?${query}`, { headers: owned({ accept: "application/json" }) });
}

/** `PATCH /api/pages/{id}`: publishes or unpublishes one of this browser's pages. */
export function setPublished(id, isPublic) {
  return json(`api/pages/${encodeURIComponent(id)}`, {
    method: "PATCH",
    headers: owned({ accept: "application/json", "content-type": "application/json" }),
    body: JSON.stringify({ is_public: isPublic }),
  });
}

/** `DELETE /api/pages/{id}`: deletes one of this browser's pages for good. */
export async function deletePage(id) {
  await request(`api/pages/${encodeURIComponent(id)}`, { method: "DELETE", headers: owned() });
}

/** `POST /api/pages/{id}/reports`: reports a page; answers `{report_id}`. */
export function reportPage(id, report) {
  return json(`api/pages/${encodeURIComponent(id)}/reports`, {
    method: "POST",
    headers: { accept: "application/json", "content-type": "application/json" },
    body: JSON.stringify(report),
  });
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
    headers: owned({
      "content-type": "application/json",
      accept: "text/event-stream",
      "idempotency-key": idempotencyKey,
    }),
    body: JSON.stringify(body),
    signal,
  });
}

/**
 * `POST /api/pages/{id}/refine`: a change to one of this browser's pages; the response is the
 * refine's event stream, like a generation's (the same idempotency key attaches a repeat).
 */
export function postRefine(pageId, body, { idempotencyKey, signal }) {
  return request(`api/pages/${encodeURIComponent(pageId)}/refine`, {
    method: "POST",
    headers: owned({
      "content-type": "application/json",
      accept: "text/event-stream",
      "idempotency-key": idempotencyKey,
    }),
    body: JSON.stringify(body),
    signal,
  });
}

/** `GET /api/pages/{id}/versions`: the page's versions, newest first, and the current one. */
export function getVersions(pageId) {
  return json(`api/pages/${encodeURIComponent(pageId)}/versions`, {
    headers: owned({ accept: "application/json" }),
    cache: "no-store",
  });
}

/** `POST /api/pages/{id}/versions/{n}/restore`: version n's document as a new version. */
export function restoreVersion(pageId, n) {
  return json(`api/pages/${encodeURIComponent(pageId)}/versions/${n}/restore`, {
    method: "POST",
    headers: owned({ accept: "application/json" }),
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
