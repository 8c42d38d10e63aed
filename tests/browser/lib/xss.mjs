// The XSS proof's harness: a fake model that writes any payload, the hosts the detector
// loads documents from, and the detector itself.
//
// The detector loads a document in a real Chromium and watches every way script could show
// itself: `alert`/`confirm`/`prompt`/`print`/`open` patched by an init script (and native
// dialogs, for frames where the patch does not reach), uncaught errors, console output, DOM
// left holding script (script elements, handlers, script URLs, frames, objects, bases, meta
// refreshes), and every request the document makes except for itself, data: URLs and images
// (which pages may load). A canary server on another port catches requests that do get out.

import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";

import { ROOT } from "./server.mjs";

/** The one script a `cdn` page may load; the test serves a stub in its place (no network). */
export const TAILWIND_CDN_URL = "https://cdn.tailwindcss.com/3.4.17";

/** How long a loaded document gets to show script (timers, autofocus, animations). */
const SETTLE_MS = 100;

/** Every payload of the public corpora in tests/fixtures/xss/, as `{ corpus, index, payload }`. */
export async function loadCorpora() {
  const cases = [];
  for (const corpus of ["dompurify", "h5sc", "css"]) {
    const file = path.join(ROOT, "tests/fixtures/xss", `${corpus}.json`);
    const payloads = JSON.parse(await readFile(file, "utf8"));
    payloads.forEach((payload, index) => cases.push({ corpus, index, payload }));
  }
  return cases;
}

/** A payload as the model's whole answer (`raw`) and inside a complete document (`wrapped`). */
export function modelOutputs({ corpus, index, payload }) {
  return [
    { key: `${corpus}-${index}-raw`, output: payload },
    {
      key: `${corpus}-${index}-wrapped`,
      output: `<!DOCTYPE html><html><head><title>x</title></head><body>${payload}</body></html>`,
    },
  ];
}

/** Starts a node HTTP server on 127.0.0.1; resolves to `{ url, close }`. */
async function listen(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * An OpenAI-compatible streaming endpoint that answers with `outputFor(userPrompt)`, in two
 * content deltas split at the middle (so previews see a half-written document too), then a
 * finish chunk, a usage chunk and `[DONE]`, as OpenRouter does.
 */
export async function startFakeModel(outputFor) {
  return listen(async (request, response) => {
    let body = "";
    for await (const chunk of request) body += chunk;
    const prompt = JSON.parse(body).messages.find((m) => m.role === "user").content;
    const characters = Array.from(outputFor(prompt));
    const half = Math.ceil(characters.length / 2);
    const parts = [characters.slice(0, half).join(""), characters.slice(half).join("")];
    const chunk = (choice, extra = {}) =>
      `data: ${JSON.stringify({ id: "gen-xss", object: "chat.completion.chunk", choices: choice ? [choice] : [], ...extra })}\n\n`;
    response.writeHead(200, { "content-type": "text/event-stream" });
    for (const content of parts.filter((p) => p.length > 0)) {
      response.write(chunk({ index: 0, delta: { content }, finish_reason: null }));
    }
    response.write(chunk({ index: 0, delta: {}, finish_reason: "stop" }));
    response.write(chunk(null, { usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 } }));
    response.end("data: [DONE]\n\n");
  });
}

/** A server whose every hit is script that got out: it counts requests and answers 204. */
export async function startCanary() {
  const hits = [];
  const server = await listen((request, response) => {
    hits.push(request.url);
    response.writeHead(204, { "access-control-allow-origin": "*" }).end();
  });
  return { ...server, hits };
}

/**
 * Serves documents as given, on their own origin, with no Content-Security-Policy unless
 * one is asked for: what the sanitizer alone makes of a document, with nothing else between
 * it and the browser.
 */
export async function startDocumentHost() {
  const documents = [];
  const server = await listen((request, response) => {
    const match = /^\/doc\/(\d+)$/.exec(request.url);
    const document = match && documents[Number(match[1])];
    if (!document) return response.writeHead(404).end();
    const headers = { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" };
    if (document.csp) headers["content-security-policy"] = document.csp;
    response.writeHead(200, headers).end(document.html);
  });
  return {
    ...server,
    /** The URL that serves `html` (under `csp` when given). */
    put(html, csp) {
      documents.push({ html, csp });
      return `${server.url}doc/${documents.length - 1}`;
    },
  };
}

/**
 * What the fake model answers to a refine whose change request is `key`: an edit block that
 * puts `payload` at the end of the body; asked again for a whole document (the edit could not
 * be applied), `document`. `null` for a request that is not a refine.
 */
export function refineAnswer(userMessage, answers) {
  const key = /<change-request>\n([\s\S]*)\n<\/change-request>/.exec(userMessage)?.[1];
  if (key === undefined) return null;
  const { payload, document } = answers(key);
  if (userMessage.includes("could not be applied")) return document;
  return `<<<<<<< SEARCH\n</body>\n=======\n${payload}\n</body>\n>>>>>>> REPLACE\n`;
}

/**
 * Runs one generation with previews and reads its whole event stream: the `preview` htmls, in
 * order, and the terminal event.
 */
export async function generateWithPreviews(base, prompt, { ownerKey } = {}) {
  const headers = { "content-type": "application/json" };
  if (ownerKey) headers.authorization = `Bearer ${ownerKey}`;
  const response = await fetch(new URL("api/generate", base), {
    method: "POST",
    headers,
    body: JSON.stringify({ email: "xss@example.com", prompt, preview: true }),
  });
  return streamWithPreviews(response, "POST api/generate");
}

/**
 * Refines page `pageId` (owned by `ownerKey`) with `prompt`, reading the whole stream as
 * `generateWithPreviews` does: the refined version is a page like any other.
 */
export async function refineWithPreviews(base, pageId, prompt, { ownerKey }) {
  const response = await fetch(new URL(`api/pages/${pageId}/refine`, base), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ownerKey}` },
    body: JSON.stringify({ prompt, preview: true }),
  });
  return streamWithPreviews(response, "POST api/pages/{id}/refine");
}

/** The `preview` htmls of a generation's or refine's stream, and its terminal event. */
async function streamWithPreviews(response, what) {
  if (!response.ok) throw new Error(`${what}: ${response.status} ${await response.text()}`);
  const previews = [];
  let terminal = null;
  for (const block of (await response.text()).split("\n\n")) {
    // Split on line feeds only: JSON may hold U+2028, which a regex `.` would stop at.
    const field = (name) => block.split("\n").find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
    const type = field("event");
    const data = field("data");
    if (!type || data === undefined) continue;
    const payload = JSON.parse(data);
    if (type === "preview") previews.push(payload.html);
    if (type === "completed" || type === "error") terminal = { type, ...payload };
  }
  return { previews, terminal };
}

/**
 * Runs `task(item, worker)` over `items` with `width` workers (numbered from 0), each taking
 * the next item when done with one; resolves to the results in order.
 */
export async function inPool(items, width, task) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async (_, index) => {
    while (next < items.length) {
      const at = next++;
      results[at] = await task(items[at], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

/** Runs in every document and frame before its own scripts: reports script-only actions. */
function patchGlobals() {
  const report = (kind, detail) => {
    try {
      window.__xssReport?.(kind, String(detail).slice(0, 200));
    } catch {
      // The binding may be missing in an odd frame; the native dialog check still runs.
    }
  };
  for (const name of ["alert", "confirm", "prompt", "print", "open"]) {
    try {
      window[name] = (detail) => report(name, detail);
    } catch {
      // Read-only in some frames.
    }
  }
  // Only script writes to the console through these; the browser's own messages (refused
  // loads, form hints) still arrive as console events, and are told apart by their type.
  for (const name of ["log", "info", "debug", "warn", "error", "trace", "dir", "table"]) {
    try {
      console[name] = (detail) => report(`console.${name}`, detail);
    } catch {
      // Read-only in some frames.
    }
  }
}

/**
 * Runs in a loaded document (without CSP): what is left that could run script. Reads the DOM
 * through the prototypes' own methods, because a payload may clobber `element.attributes` or
 * `document.scripts` with a named form control.
 */
function scriptLeftInDom(allowedScript) {
  const all = Document.prototype.querySelectorAll.call(document, "*");
  const nameOf = Object.getOwnPropertyDescriptor(Element.prototype, "localName").get;
  const srcOf = Object.getOwnPropertyDescriptor(HTMLScriptElement.prototype, "src").get;
  const found = [];
  for (const element of all) {
    const name = nameOf.call(element);
    if (name === "script") {
      // An SVG script has no `src` property: it is never the allowed one.
      const src = element instanceof HTMLScriptElement ? srcOf.call(element) : "(svg)";
      if (src !== allowedScript) found.push(`script ${src || "(inline)"}`);
    }
    for (const attribute of Element.prototype.getAttributeNames.call(element)) {
      const value = Element.prototype.getAttribute.call(element, attribute) ?? "";
      if (/^on/i.test(attribute)) found.push(`${name}[${attribute}]`);
      if (/(^|:)(href|src|action|formaction|data)$/i.test(attribute) && /^\s*(javascript|vbscript|data):/i.test(value)) {
        found.push(`${name}[${attribute}=${value.slice(0, 40)}]`);
      }
    }
    if (["iframe", "frame", "object", "embed", "base", "link", "applet", "portal"].includes(name)) {
      found.push(name);
    }
    if (name === "meta" && Element.prototype.hasAttribute.call(element, "http-equiv")) {
      found.push("meta[http-equiv]");
    }
  }
  return found;
}

/**
 * The detector: a browser context whose pages report every sign of script. Load documents
 * with `probe.load(label, url)`; findings are kept per label in `findings`.
 */
export class Detector {
  /** @param {{ browser: any, allowedOrigins: string[], canaryUrl: string, cdnStub?: boolean }} options */
  static async create({ browser, allowedOrigins, canaryUrl }) {
    const detector = new Detector();
    detector.allowedOrigins = allowedOrigins.map((url) => new URL(url).origin);
    detector.canaryOrigin = new URL(canaryUrl).origin;
    detector.findings = new Map();
    detector.loads = 0;
    detector.context = await browser.newContext();
    const context = detector.context;
    await context.exposeBinding("__xssReport", ({ page }, kind, detail) =>
      detector.record(page, `called ${kind}(${detail})`),
    );
    await context.addInitScript(patchGlobals);
    // Nothing may leave this machine: the pinned CDN file gets a stub, everything else that is
    // not ours is refused (and counted, when it is not an image).
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url === TAILWIND_CDN_URL) {
        return route.fulfill({ status: 200, contentType: "text/javascript", body: "/* Tailwind stub */" });
      }
      const origin = url.startsWith("http") ? new URL(url).origin : null;
      if (origin && (detector.allowedOrigins.includes(origin) || origin === detector.canaryOrigin)) {
        return route.continue();
      }
      return route.abort("blockedbyclient");
    });
    return detector;
  }

  /** Opens a page whose events are attributed to the document it is loading. */
  async probe() {
    const page = await this.context.newPage();
    const probe = { page, label: null, documentUrl: null };
    page.__probe = probe;
    page.on("dialog", (dialog) => {
      this.record(page, `native ${dialog.type()} dialog: ${dialog.message()}`);
      dialog.dismiss().catch(() => {});
    });
    page.on("pageerror", (error) => this.record(page, `uncaught error: ${error.message}`));
    page.on("console", (message) => {
      // Errors, warnings and verbose hints come from the browser itself (a refused load, a
      // CSP report, a form hint); anything else was written by script that the console patch
      // did not reach.
      if (!["error", "warning", "verbose"].includes(message.type())) {
        this.record(page, `console.${message.type()}: ${message.text()}`);
      }
    });
    page.on("request", (request) => {
      const url = request.url();
      if (url === probe.documentUrl || url === "about:blank" || url.startsWith("data:")) return;
      if (url === TAILWIND_CDN_URL && request.resourceType() === "script") return;
      if (url.startsWith(this.canaryOrigin)) return this.record(page, `canary hit: ${url}`);
      // Pages may show images; anything else is a request only script or a stray
      // navigation could make.
      if (request.resourceType() !== "image") {
        this.record(page, `${request.resourceType()} request: ${url.slice(0, 120)}`);
      }
    });
    probe.load = (label, url, options) => this.load(probe, label, url, options);
    return probe;
  }

  record(page, finding) {
    const label = page.__probe?.label ?? "(before any document)";
    if (!this.findings.has(label)) this.findings.set(label, []);
    this.findings.get(label).push(finding);
  }

  /**
   * Loads `url` as `label`, lets it settle, and (unless `inspectDom` is false, for documents
   * where script is disabled and evaluation is impossible) checks its DOM for script left in
   * it. Resolves to the response's headers.
   */
  async load(probe, label, url, { inspectDom = true, allowedScript = "" } = {}) {
    probe.label = label;
    probe.documentUrl = url;
    this.loads += 1;
    let headers = {};
    try {
      const response = await probe.page.goto(url, { waitUntil: "load", timeout: 15_000 });
      headers = response?.headers() ?? {};
      await probe.page.waitForTimeout(SETTLE_MS);
      if (inspectDom) {
        for (const found of await probe.page.evaluate(scriptLeftInDom, allowedScript)) {
          this.record(probe.page, `left in the DOM: ${found}`);
        }
      }
    } catch (error) {
      this.record(probe.page, `could not load: ${error.message.split("\n")[0]}`);
    }
    // The label stays until the next load: anything a document does late is still a finding,
    // at worst put down to the document loaded after it.
    return headers;
  }

  async close() {
    await this.context.close();
  }
}
