// Proof that published pages cannot run script (docs/ARCHITECTURE.md, "Sanitizing" and
// "Serving a page"): every payload of the public XSS corpora goes through the whole pipeline
// as the model's output — the real binary, its upstream client, SSE parsing, sanitizing,
// saving, serving — in both style modes, and every resulting document is loaded in headless
// Chromium with script execution detected:
//
// - the stored page, served WITHOUT any Content-Security-Policy (the sanitizer alone must
//   make it inert);
// - the same page at its real live URL, under the headers the server sends;
// - every `preview` snapshot the generation streamed (a half-written and the whole document);
// - the same three for a refined version of the page (docs/ARCHITECTURE.md, "Refining a
//   page"): the payload inserted by an edit block (or, where that edit cannot be applied, in
//   the whole document asked for instead), loaded at `/p/{id}/v/{n}` under its headers.
//
// Controls show that the detector would notice: unsanitized documents must be caught, and the
// live-page CSP alone must stop them. Finally the web UI runs a generation under the server's
// own CSP and must show its styled preview without a single violation.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { launchBrowser, screenshot } from "./lib/browser.mjs";
import { startServer } from "./lib/server.mjs";
import { fillForm, openUi, shownPreviewFrame, waitForState } from "./lib/ui.mjs";
import {
  Detector,
  TAILWIND_CDN_URL,
  generateWithPreviews,
  inPool,
  loadCorpora,
  modelOutputs,
  refineAnswer,
  refineWithPreviews,
  startCanary,
  startDocumentHost,
  startFakeModel,
} from "./lib/xss.mjs";

/** Generations run at once against one server. */
const GENERATIONS_AT_ONCE = 6;
/** Documents loaded at once in the browser. */
const PAGES_AT_ONCE = 3;

/** What the fake model writes for a prompt that names no payload (the UI check). */
const STYLED_PAGE = `<!DOCTYPE html><html lang="en"><head><title>Crumb &amp; Co</title></head>
<body class="bg-slate-50 text-slate-900 antialiased">
<header class="bg-indigo-600 px-6 py-16 text-center text-white shadow-lg">
<h1 id="headline" class="text-4xl font-extrabold tracking-tight md:text-6xl">Crumb &amp; Co</h1>
<p class="mt-4 text-lg text-indigo-100">Sourdough, every morning.</p></header>
<main class="mx-auto grid max-w-5xl gap-6 p-6 md:grid-cols-3">
<img src="https://images.example.com/bread.jpg" alt="A loaf" class="rounded-2xl">
<div class="rounded-2xl bg-white p-6 shadow ring-1 ring-slate-200"><h2 class="font-semibold">Bread</h2></div>
<a href="#top" class="rounded-lg bg-gradient-to-r from-indigo-600 to-pink-500 px-4 py-2 text-white hover:opacity-90">Order</a>
</main></body></html>`;

/** Unsanitized documents that run script, each in its own way. */
function controls(canaryUrl) {
  return [
    ["inline script", "<script>alert('control')</script>"],
    ["event handler", `<img src="missing.png" onerror="fetch('${canaryUrl}handler')">`],
    ["svg onload", `<svg onload="console.log('control')"></svg>`],
    ["throwing script", "<script>notAFunction()</script>"],
    ["framed script", `<iframe srcdoc="&lt;script&gt;alert('framed')&lt;/script&gt;"></iframe>`],
  ];
}

/** Controls that only the DOM check can see (nothing runs without a click or a timer). */
function dormantControls(canaryUrl) {
  return [
    ["script URL", "<a href=\"javascript:alert(1)\">click</a>"],
    ["meta refresh", `<meta http-equiv="refresh" content="9;url=${canaryUrl}refresh">`],
  ];
}

const asDocument = (body) =>
  `<!DOCTYPE html><html><head><title>control</title></head><body>${body}</body></html>`;

const EXPECTED_POLICY_START = { compiled: "sandbox; ", cdn: "sandbox allow-scripts; " };

let browser;
let model;
let canary;
let host;
let cases;
/** The model's output for each prompt (a payload key). */
const outputs = new Map();
/** The payload of each key, which a refine's edit block inserts. */
const payloads = new Map();
/** The owner of every page here, so that each can be refined. */
const OWNER_KEY = "xss-proof-owner-key-0123456789_abcdefghijklmn";
/** A live page's Content-Security-Policy per style mode, for the CSP-only control. */
const policies = {};
const summary = [];

before(async () => {
  cases = await loadCorpora();
  for (const item of cases) {
    for (const output of modelOutputs(item)) {
      outputs.set(output.key, output.output);
      payloads.set(output.key, item.payload);
    }
  }
  const answers = (key) => ({ payload: payloads.get(key) ?? "", document: outputs.get(key) ?? STYLED_PAGE });
  [browser, model, canary, host] = await Promise.all([
    launchBrowser(),
    startFakeModel((prompt) => refineAnswer(prompt, answers) ?? outputs.get(prompt) ?? STYLED_PAGE),
    startCanary(),
    startDocumentHost(),
  ]);
});

after(async () => {
  await browser?.close();
  await Promise.all([model?.close(), canary?.close(), host?.close()]);
  if (summary.length) console.log(`\nXSS proof summary\n${summary.map((line) => `  ${line}`).join("\n")}`);
});

/** The real binary writing pages with the fake model, in `mode`. */
function startPipeline(mode) {
  return startServer({
    OPENROUTER_API_KEY: "sk-xss-proof-not-a-real-key",
    OPENROUTER_BASE_URL: model.url,
    LIVEPAGE_STYLES: mode,
    // A preview for every delta: the half-written document and the whole one.
    LIVEPAGE_PREVIEW_INTERVAL: "0ms",
    LIVEPAGE_FALLBACK: "false",
    LIVEPAGE_MAX_ATTEMPTS: "1",
  });
}

/** All findings of a detector, as "label: finding" lines. */
function findingsOf(detector) {
  return [...detector.findings].flatMap(([label, found]) => found.map((f) => `${label}: ${f}`));
}

describe("model output from the XSS corpora, through the whole pipeline, in Chromium", () => {
  test("the detector catches every unsanitized control document", async () => {
    const detector = await Detector.create({ browser, allowedOrigins: [host.url], canaryUrl: canary.url });
    try {
      const probe = await detector.probe();
      const all = [...controls(canary.url), ...dormantControls(canary.url)];
      for (const [name, body] of all) {
        await probe.load(`control: ${name}`, host.put(asDocument(body)));
      }
      const missed = all.filter(([name]) => !detector.findings.has(`control: ${name}`)).map(([n]) => n);
      assert.deepEqual(missed, [], "controls the detector did not catch");
      assert.ok(canary.hits.length > 0, "the canary heard the handler's request");
      summary.push(
        `controls: ${all.length - missed.length}/${all.length} unsanitized documents detected ` +
          `(${findingsOf(detector).length} findings, ${canary.hits.length} canary hits)`,
      );
    } finally {
      await detector.close();
    }
  });

  for (const mode of ["compiled", "cdn"]) {
    test(`no payload runs script in ${mode} mode: stored page, live URL, previews`, async () => {
      const canaryHitsBefore = canary.hits.length;
      const server = await startPipeline(mode);
      const detector = await Detector.create({
        browser,
        allowedOrigins: [host.url, server.url],
        canaryUrl: canary.url,
      });
      try {
        const keys = [...outputs.keys()];
        // Every live page is loaded below with the server's report link in it; without it
        // (it names the page), identical documents are still told apart as one.
        const link = /<a href="[^"]*\/report\?page=[^"]*"[^>]*>Report<\/a><\/body>/;
        const served = async (key, url) => {
          const response = await fetch(url);
          assert.equal(response.status, 200, `${key}: ${url}`);
          const policy = response.headers.get("content-security-policy");
          assert.ok(policy.startsWith(EXPECTED_POLICY_START[mode]), `${key}: ${policy}`);
          policies[mode] ??= policy;
          const html = await response.text();
          assert.match(html, link, `${key}: the report link`);
          return html.replace(link, "</body>");
        };
        const runs = await inPool(keys, GENERATIONS_AT_ONCE, async (key) => {
          const { previews, terminal } = await generateWithPreviews(server.url, key, { ownerKey: OWNER_KEY });
          if (terminal?.type !== "completed") return { key, previews, terminal };
          const html = await served(key, terminal.live_url);
          // The page refined: the payload goes in by an edit, and version 2 is loaded at its
          // own URL like the live page.
          const refine = await refineWithPreviews(server.url, terminal.page_id, key, { ownerKey: OWNER_KEY });
          if (refine.terminal?.type !== "completed") return { key, previews, terminal: refine.terminal };
          assert.equal(refine.terminal.version, 2, key);
          const refined = await served(`${key} v2`, refine.terminal.version_url);
          return { key, previews, terminal, html, refine, refined };
        });
        const failed = runs.filter((run) => !run.html);
        assert.deepEqual(
          failed.map((run) => `${run.key}: ${run.terminal?.type} ${run.terminal?.code ?? ""}`),
          [],
          "every payload became a page",
        );

        // Each distinct document once, stored page or preview (identical bytes behave the same;
        // the last preview is usually the stored page), labelled with the first payload that
        // produced it; and the live URL of each distinct stored page.
        const documents = new Map();
        const livePages = new Map();
        for (const run of runs) {
          if (!livePages.has(run.html)) livePages.set(run.html, { label: `${run.key} live`, url: run.terminal.live_url });
          if (!documents.has(run.html)) documents.set(run.html, `${run.key} stored`);
          const version = run.refine.terminal.version_url;
          if (!livePages.has(run.refined)) livePages.set(run.refined, { label: `${run.key} v2 live`, url: version });
          if (!documents.has(run.refined)) documents.set(run.refined, `${run.key} v2 stored`);
        }
        for (const run of runs) {
          run.previews.forEach((html, i) => documents.has(html) || documents.set(html, `${run.key} preview ${i + 1}`));
          run.refine.previews.forEach((html, i) => documents.has(html) || documents.set(html, `${run.key} v2 preview ${i + 1}`));
        }
        const allowedScript = mode === "cdn" ? TAILWIND_CDN_URL : "";
        const loads = [
          ...[...documents].map(([html, label]) => ({ label, url: host.put(html) })),
          ...[...livePages.values()].map((page) => ({ ...page, live: true })),
        ];
        const probes = await Promise.all(Array.from({ length: PAGES_AT_ONCE }, () => detector.probe()));
        await inPool(loads, PAGES_AT_ONCE, async (load, worker) => {
          const options = { inspectDom: !load.live, allowedScript };
          const headers = await probes[worker].load(load.label, load.url, options);
          if (load.live) {
            assert.ok(
              headers["content-security-policy"]?.startsWith(EXPECTED_POLICY_START[mode]),
              `${load.label}: ${headers["content-security-policy"]}`,
            );
          }
        });

        const findings = findingsOf(detector);
        const previewCount = runs.reduce((n, run) => n + run.previews.length + run.refine.previews.length, 0);
        summary.push(
          `${mode}: ${cases.length} payloads × 2 forms = ${runs.length} generations, each refined → ` +
            `${runs.length * 2} versions (${livePages.size} distinct) and ${previewCount} previews; ` +
            `${documents.size} distinct documents loaded without CSP, ${livePages.size} at their ` +
            `live URL (${detector.loads} loads); ${findings.length} script executions or leftovers detected`,
        );
        assert.deepEqual(findings, [], `script showed itself in ${mode} mode`);
        assert.equal(canary.hits.length, canaryHitsBefore, "the canary heard nothing");
      } finally {
        await detector.close();
        await server.stop();
      }
    });
  }

  test("the live-page policy alone stops the control documents", async () => {
    assert.ok(policies.compiled && policies.cdn, "the policies were captured by the mode tests");
    const detector = await Detector.create({ browser, allowedOrigins: [host.url], canaryUrl: canary.url });
    try {
      const canaryHitsBefore = canary.hits.length;
      const probe = await detector.probe();
      let loaded = 0;
      for (const [mode, policy] of Object.entries(policies)) {
        for (const [name, body] of controls(canary.url)) {
          await probe.load(`${mode} policy, control: ${name}`, host.put(asDocument(body), policy), {
            inspectDom: false,
          });
          loaded += 1;
        }
      }
      const findings = findingsOf(detector);
      summary.push(`live-page policy: ${loaded} control documents served under it, ${findings.length} executions`);
      assert.deepEqual(findings, [], "script ran despite the live-page policy");
      assert.equal(canary.hits.length, canaryHitsBefore);
    } finally {
      await detector.close();
    }
  });

  test("the UI shows a styled preview under the server's own policy, without violations", async () => {
    const server = await startPipeline("compiled");
    const { context, page, problems } = await openUi(browser, server.url, { csp: null });
    const violations = [];
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    try {
      await fillForm(page, { prompt: "A bakery called Crumb & Co", email: "ui@example.com" });
      await page.click("#generate");
      await waitForState(page, "completed");
      assert.ok(await shownPreviewFrame(page), "a preview is shown");
      // The front frame is looked up again on every try: the finished page may still be loading
      // in the back frame when `completed` arrives, and a handle on the frame in front then
      // would be left holding the one swapped to the back.
      const headline = page.frameLocator("#panel-preview iframe.is-front").locator("#headline");
      await headline.waitFor({ state: "visible" });
      const style = await headline.evaluate((element) => {
        const computed = getComputedStyle(element);
        return { weight: computed.fontWeight, header: getComputedStyle(element.parentElement).backgroundColor };
      });
      assert.equal(style.weight, "800", "font-extrabold applies in the preview");
      assert.notEqual(style.header, "rgba(0, 0, 0, 0)", "bg-indigo-600 applies in the preview");
      await screenshot(page, "xss-ui-preview-under-server-csp");
      assert.deepEqual(violations, [], "CSP violations in the UI or its preview");
      assert.deepEqual(problems, [], "errors in the UI's page");
      summary.push(`UI: styled preview shown under the server's CSP, ${violations.length} violations`);
    } finally {
      await context.close();
      await server.stop();
    }
  });
});
