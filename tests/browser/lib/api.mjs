// LivePage's HTTP API from node, for test fixtures and oracles. The SSE reading here is
// deliberately naive and separate from the UI's parser (web/sse.js), so that the two check
// each other.

/** GET a JSON resource. */
export async function getJson(base, path) {
  const response = await fetch(new URL(path, base));
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/**
 * Runs one generation to its end over HTTP and returns what an uninterrupted client sees:
 * the concatenated `delta` texts (the raw model output) and the terminal event. With
 * `ownerKey`, the page is that key's.
 */
export async function generate(base, body, { ownerKey } = {}) {
  const headers = { "content-type": "application/json" };
  if (ownerKey) headers.authorization = `Bearer ${ownerKey}`;
  const response = await fetch(new URL("api/generate", base), {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST api/generate: ${response.status} ${await response.text()}`);
  const text = await response.text();
  let raw = "";
  let terminal = null;
  for (const block of text.split("\n\n")) {
    const type = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (!type || data === undefined) continue;
    const payload = JSON.parse(data);
    if (type === "delta") raw += payload.text;
    if (type === "completed" || type === "error") terminal = { type, ...payload };
  }
  return { raw, terminal };
}

/**
 * The events of an SSE response, as `{id, type, data}` (data parsed as JSON), in order. As
 * naive as `generate` above: one `event:` and one `data:` line per block.
 */
export async function* sseEvents(response) {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!type || data === undefined) continue;
      yield { id: /^id: (.*)$/m.exec(block)?.[1] ?? null, type, data: JSON.parse(data) };
    }
  }
}

/**
 * Starts a generation and resolves as soon as its `started` event arrives, with that event's
 * data (`generation_id`, `events_url`…) and `terminal`: a promise of its last event
 * (`{id, type, data}`), read from the rest of the POST's stream in the background.
 */
export async function startGeneration(base, body) {
  const response = await fetch(new URL("api/generate", base), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST api/generate: ${response.status} ${await response.text()}`);
  const events = sseEvents(response);
  const first = await events.next();
  if (first.done || first.value.type !== "started") {
    throw new Error(`POST api/generate: the stream did not start with "started": ${JSON.stringify(first.value)}`);
  }
  const terminal = (async () => {
    for await (const event of events) {
      if (event.type === "completed" || event.type === "error") return event;
    }
    throw new Error("POST api/generate: the stream ended without a terminal event");
  })();
  // Awaited by the tests that need it; never an unhandled rejection for those that do not.
  terminal.catch(() => {});
  return { ...first.value.data, terminal };
}

/**
 * How many requests for a generation's event stream this server has answered, by status
 * (`{"200": n, "204": n, …}`), from its Prometheus metrics: the server's own count.
 */
export async function eventStreamRequests(base) {
  const response = await fetch(new URL("metrics", base));
  if (!response.ok) throw new Error(`GET metrics: ${response.status}`);
  const counts = {};
  for (const line of (await response.text()).split("\n")) {
    if (!line.startsWith("livepage_http_requests_total{")) continue;
    if (!line.includes('route="/api/generations/{id}/events"')) continue;
    const status = /status="(\d+)"/.exec(line)?.[1];
    counts[status] = (counts[status] ?? 0) + Number(line.trim().split(/\s+/).pop());
  }
  return counts;
}
