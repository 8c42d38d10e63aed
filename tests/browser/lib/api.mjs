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
 * the concatenated `delta` texts (the raw model output) and the terminal event.
 */
export async function generate(base, body) {
  const response = await fetch(new URL("api/generate", base), {
    method: "POST",
    headers: { "content-type": "application/json" },
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
