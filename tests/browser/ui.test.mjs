// The web UI in a real browser, against the real binary in demo mode.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { generate, getJson } from "./lib/api.mjs";
import { PHONE, launchBrowser, screenshot, until } from "./lib/browser.mjs";
import { startServer } from "./lib/server.mjs";
import {
  codeText,
  fillForm,
  generationId,
  openUi,
  recorded,
  shownPreviewFrame,
  waitForState,
} from "./lib/ui.mjs";

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Whether the preview shown has scrolled down (following the end of the page). */
async function previewScrolled(page) {
  const frame = await shownPreviewFrame(page);
  // The frame may be swapped out and reloaded while it is asked: that is a "not yet".
  return frame?.evaluate(() => scrollY > 0).catch(() => false);
}

/** Asserts that the UI's own page had no errors and no CSP violations. */
async function assertClean(page, problems) {
  const { violations } = await recorded(page);
  assert.deepEqual(violations, [], "CSP violations in the UI's page");
  assert.deepEqual(problems, [], "errors in the UI's page");
}

describe("the web UI", () => {
  test("has no inline script, handler or style in its own markup", async () => {
    const html = await (await fetch(server.url)).text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, "inline <script>");
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, "event handler attribute");
    assert.doesNotMatch(html, /\sstyle\s*=|<style/i, "inline style");
    assert.doesNotMatch(html, /javascript:/i);
    const form = await (await fetch(new URL("report", server.url))).text();
    assert.doesNotMatch(form, /<script(?![^>]*\bsrc=)[^>]*>/i, "inline <script> in the report form");
    assert.doesNotMatch(form, /\son[a-z]+\s*=|\sstyle\s*=|<style/i, "handler or style in the report form");
    for (const file of ["app.js", "preview.js", "history.js", "dom.js", "code-view.js", "report.js"]) {
      const source = await (await fetch(new URL(`assets/${file}`, server.url))).text();
      assert.doesNotMatch(source, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/, file);
      assert.doesNotMatch(source, /setAttribute\(\s*["']style/, file);
    }
  });

  test("builds its form from /api/options and announces demo mode", async () => {
    const options = await getJson(server.url, "api/options");
    const { context, page, problems } = await openUi(browser, server.url);
    try {
      const pageTypes = await page.$$eval("#page-types input", (inputs) => inputs.map((i) => i.value));
      assert.deepEqual(pageTypes, options.page_types.map((t) => t.name));
      const themes = await page.$$eval("#themes input", (inputs) => inputs.map((i) => i.value));
      assert.deepEqual(themes, options.themes.map((t) => t.name));
      assert.equal(await page.inputValue("#page-types input:checked"), options.default_page_type);
      assert.equal(await page.inputValue("#themes input:checked"), options.default_theme);
      const described = await page.textContent("#page-type-description");
      assert.match(described, new RegExp(options.page_types[0].description.slice(1, 30)));
      // One allowed model: nothing to choose.
      assert.deepEqual(options.models, [options.default_model]);
      assert.equal(await page.isVisible("#model-field"), false);
      assert.equal(options.demo_mode, true);
      assert.equal(await page.isVisible("#demo-banner"), true);
      assert.match(await page.textContent("#prompt-count"), /0 \/ 4,000/);

      await page.click('label[for="theme-dark"]');
      assert.match(await page.textContent("#theme-description"), /slate backgrounds/);
      await page.click('label[for="theme-modern"]');
      await screenshot(page, "01-idle-desktop");
      await assertClean(page, problems);
    } finally {
      await context.close();
    }
  });

  test("streams a page live, reaches 100% and publishes it", async () => {
    const request = {
      prompt: "A neighbourhood bakery called Crumb & Co., known for sourdough and cardamom buns",
      email: "flow@example.com",
      page_type: "landing",
      theme: "elegant",
    };
    const reference = generate(server.url, request);
    const { context, page, problems } = await openUi(browser, server.url);
    try {
      await fillForm(page, { ...request, pageType: request.page_type });
      await page.click("#generate");
      await waitForState(page, "running", 5_000);
      assert.match(generationId(page) ?? "", /^[0-9a-f-]{36}$/, "the generation id is in the URL");

      // Several snapshots in, the page is part-written and the preview follows its end.
      await until(async () => (await recorded(page)).previews.length >= 3, { what: "3 previews" });
      const frame = await shownPreviewFrame(page);
      await until(() => previewScrolled(page), { what: "the preview to follow the end" });
      assert.ok(frame, "a preview frame is shown");
      await screenshot(page, "02-streaming-desktop");
      await page.click("#tab-code");
      await until(async () => (await codeText(page)).length > 0, { what: "code" });
      await screenshot(page, "03-streaming-code-desktop");
      await page.click("#tab-preview");

      await waitForState(page, "completed");
      const seen = await recorded(page);
      const { raw, terminal } = await reference;

      // At least three distinct snapshots were shown while the page was being written.
      const live = seen.previews.filter((p) => p.state === "running" && p.size > 0);
      const distinct = new Set(live.map((p) => p.size));
      assert.ok(distinct.size >= 3, `distinct previews before completion: ${distinct.size}`);
      const ids = live.map((p) => p.id);
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), "snapshots shown in order");

      // The progress bar only moved forward, and ended full.
      assert.ok(seen.percents.length >= 3, "progress was reported along the way");
      seen.percents.forEach((p, i) => i && assert.ok(p >= seen.percents[i - 1], `${seen.percents}`));
      assert.equal(seen.percents.at(-1), 100);
      assert.equal(await page.getAttribute("#progress", "aria-valuenow"), "100");
      assert.equal(await page.textContent("#percent"), "100%");

      // Tokens and time.
      const tokens = Number((await page.textContent("#tokens")).replace(/\D/g, ""));
      assert.equal(tokens, terminal.usage.completion_tokens);
      assert.match(await page.textContent("#elapsed"), /^\d+\.\d s$/);

      // The raw code is exactly what an uninterrupted client received.
      assert.equal(await codeText(page), raw);

      // The result: the live URL, Copy, and Open showing the generated page.
      const liveUrl = await page.textContent("#live-url");
      assert.match(liveUrl, /\/p\/[0-9a-f-]{36}$/);
      assert.equal(await page.getAttribute("#open-live", "href"), liveUrl);
      assert.equal(await page.textContent("#result-page strong"), terminal.title);
      await screenshot(page, "04-completed-desktop");

      await page.click("#copy-live");
      await until(async () => (await page.textContent("#copy-live")) === "Copied", { what: "Copied" });
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), liveUrl);

      const [live_page] = await Promise.all([context.waitForEvent("page"), page.click("#open-live")]);
      await live_page.waitForLoadState();
      assert.equal(live_page.url(), liveUrl);
      assert.equal(await live_page.title(), terminal.title);
      await screenshot(live_page, "05-live-page");

      // History lists it: title, link, views.
      const item = page.locator("#history-list .history-item", { hasText: terminal.title }).first();
      await item.waitFor();
      assert.equal(await item.locator("a").getAttribute("href"), liveUrl);
      assert.match(await item.locator(".history-meta").textContent(), /views?/);
      await screenshot(page, "06-history-desktop", { fullPage: true });
      await assertClean(page, problems);
    } finally {
      await context.close();
    }
  });

  test("cancels a running generation, saves nothing, and can start again", async () => {
    const { context, page, problems } = await openUi(browser, server.url);
    try {
      await fillForm(page, {
        prompt: "A product page for a quiet mechanical keyboard",
        email: "cancel@example.com",
        pageType: "product",
      });
      await page.click("#generate");
      await page.waitForSelector("#cancel:not([hidden])");
      await until(async () => Number(await page.getAttribute("#progress", "aria-valuenow")) >= 10, {
        what: "some progress",
      });
      const id = generationId(page);
      await page.click("#cancel");
      await waitForState(page, "cancelled", 10_000);
      assert.match(await page.textContent("#failure-text"), /Nothing was saved/);
      assert.equal(await page.textContent("#retry"), "Start again");
      assert.equal(await page.isVisible("#cancel"), false);
      const status = await getJson(server.url, `api/generations/${id}`);
      assert.equal(status.status, "cancelled");
      assert.equal(status.page_id, null);
      const history = await getJson(server.url, "api/history?email=cancel@example.com");
      assert.equal(history.pages.length, 0);
      await screenshot(page, "07-cancelled-desktop");

      await page.click("#retry");
      await waitForState(page, "running", 5_000);
      assert.notEqual(generationId(page), id, "a new generation");
      await waitForState(page, "completed");
      await assertClean(page, problems);
    } finally {
      await context.close();
    }
  });

  test("a reload mid-stream resumes to the same raw text as an uninterrupted run", async () => {
    const request = {
      prompt: "RustFest Harbour: two days of talks by the sea, with a hack night",
      email: "reload@example.com",
      page_type: "event",
      theme: "playful",
    };
    const reference = generate(server.url, request);
    const { context, page, problems } = await openUi(browser, server.url);
    const resumed = [];
    page.on("request", (req) => {
      const url = new URL(req.url());
      if (url.pathname.endsWith("/events")) resumed.push(url.searchParams);
    });
    try {
      await fillForm(page, { ...request, pageType: request.page_type });
      await page.click("#generate");
      await until(async () => (await codeText(page)).length > 2000, { what: "2000 characters" });
      const id = generationId(page);
      assert.ok(id);

      await page.reload();
      assert.equal(generationId(page), id, "the generation id survives the reload");
      await waitForState(page, "completed");
      const { raw } = await reference;
      assert.equal(await codeText(page), raw);
      assert.ok(resumed.length >= 1, "resumed through GET …/events");
      const from = Number(resumed[0].get("last_event_id"));
      assert.ok(from > 0, `resumed after the last event seen, not from the start (${from})`);
      assert.equal(resumed[0].get("preview"), "true");
      assert.equal(await page.getAttribute("#panel-preview", "data-empty"), "false");
      await assertClean(page, problems);

      // The link, opened in another tab (no saved state there), replays the whole generation.
      const other = await openUi(browser, server.url, { path: `?g=${id}` });
      try {
        await waitForState(other.page, "completed");
        assert.equal(await codeText(other.page), raw);
        assert.equal(await other.page.textContent("#live-url"), await page.textContent("#live-url"));
        assert.equal(await other.page.inputValue("#prompt"), request.prompt, "the form shows what was asked");
        await assertClean(other.page, other.problems);
      } finally {
        await other.context.close();
      }
    } finally {
      await context.close();
    }
  });

  test("a dropped connection resumes from the last complete event", async () => {
    const request = {
      prompt: "The portfolio of Ada Okafor, a designer of calm health apps",
      email: "drop@example.com",
      page_type: "portfolio",
      theme: "minimal",
    };
    const reference = generate(server.url, request);
    const { context, page, problems } = await openUi(browser, server.url);
    let cutAfter = 0;
    // The POST's stream breaks off in the middle of an event, as a dropped connection would.
    await page.route(
      (url) => url.pathname === "/api/generate",
      async (route) => {
        const response = await route.fetch();
        const body = await response.text();
        const frames = body.split("\n\n");
        const keep = Math.floor(frames.length * 0.4);
        cutAfter = Number(/^id: (\d+)$/m.exec(frames[keep - 1])[1]);
        const partial = `${frames.slice(0, keep).join("\n\n")}\n\n${frames[keep].slice(0, 12)}`;
        await route.fulfill({ response, body: partial });
      },
    );
    // The first attempt to resume fails too: the UI backs off and says so, then tries again.
    const resumed = [];
    await page.route(
      (url) => url.pathname.endsWith("/events"),
      (route) => {
        resumed.push(Number(new URL(route.request().url()).searchParams.get("last_event_id")));
        return resumed.length === 1 ? route.abort("connectionreset") : route.continue();
      },
    );
    try {
      await fillForm(page, { ...request, pageType: request.page_type });
      await page.click("#generate");
      await page.waitForSelector('#app[data-connection="reconnecting"]', { timeout: 30_000 });
      assert.match(await page.textContent("#stage-label"), /Connection lost|Reconnecting/);
      await screenshot(page, "08-reconnecting-desktop");
      await waitForState(page, "completed");
      assert.ok(cutAfter > 0);
      assert.deepEqual(resumed, [cutAfter, cutAfter], "resumed after the last complete event");
      const { raw } = await reference;
      assert.equal(await codeText(page), raw);
      await assertClean(page, problems.filter((p) => !p.includes("ERR_CONNECTION_RESET")));
    } finally {
      await context.close();
    }
  });

  test("checks the form before sending and works from the keyboard", async () => {
    const { context, page, problems } = await openUi(browser, server.url);
    const posts = [];
    page.on("request", (req) => req.method() === "POST" && posts.push(req.url()));
    try {
      await page.fill("#email", "");
      await page.focus("#prompt");
      await page.keyboard.type("A one-page resume for a marine biologist");
      await page.keyboard.press("Control+Enter");
      assert.equal(await page.isVisible("#email-error"), true);
      assert.equal(await page.evaluate(() => document.activeElement.id), "email");
      assert.equal(await page.getAttribute("#email", "aria-invalid"), "true");
      assert.deepEqual(posts, []);

      await page.keyboard.type("keys@example.com");
      await page.keyboard.press("Enter");
      await waitForState(page, "running", 5_000);
      assert.equal(await page.isVisible("#email-error"), false);
      assert.equal(posts.length, 1);
      // The tabs follow the ARIA tabs pattern: arrows move between them.
      await page.focus("#tab-preview");
      await page.keyboard.press("ArrowRight");
      assert.equal(await page.getAttribute("#tab-code", "aria-selected"), "true");
      assert.equal(await page.isVisible("#panel-code"), true);
      assert.equal(await page.evaluate(() => document.activeElement.id), "tab-code");
      await page.focus("#cancel");
      await page.keyboard.press("Enter");
      await waitForState(page, "cancelled", 10_000);
      // The Cancel button is gone; the focus moved on to what can be done next.
      assert.equal(await page.evaluate(() => document.activeElement.id), "retry");
      await assertClean(page, problems);
    } finally {
      await context.close();
    }
  });

  test("served as it is, its previews run their helper without any permission", async () => {
    // No rewritten response and Chromium's Local Network Access checks on, as for a person.
    const plain = await launchBrowser({ localNetworkChecks: true });
    try {
      const { page, problems } = await openUi(plain, server.url, { csp: null, colorScheme: "dark" });
      await fillForm(page, {
        prompt: "A blog about slow travel by train",
        email: "plain@example.com",
        pageType: "blog",
        theme: "corporate",
      });
      await page.click("#generate");
      await until(() => previewScrolled(page), { what: "the preview to follow the end" });
      await screenshot(page, "14-streaming-desktop-dark");
      await waitForState(page, "completed");
      await page.click("#tab-code");
      await screenshot(page, "15-completed-code-desktop-dark");
      assert.deepEqual(problems, []);
    } finally {
      await plain.close();
    }
  });

  test("fits a phone's width, in dark mode", async () => {
    const { context, page, problems } = await openUi(browser, server.url, {
      device: PHONE,
      colorScheme: "dark",
    });
    try {
      const overflow = () =>
        page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.equal(await overflow(), 0, "no sideways scrolling");
      await screenshot(page, "09-idle-phone-dark", { fullPage: true });
      await fillForm(page, {
        prompt: "Kaze, a twelve-seat ramen counter in Lisbon",
        email: "phone@example.com",
        pageType: "restaurant",
        theme: "dark",
      });
      await page.click("#generate");
      await until(async () => (await recorded(page)).previews.length >= 3, { what: "previews" });
      // The UI brought the stage into view when Generate was pressed.
      assert.ok(await page.evaluate(() => document.querySelector(".stage").getBoundingClientRect().top < innerHeight / 2));
      await screenshot(page, "10-streaming-phone-dark");
      await waitForState(page, "completed");
      assert.equal(await overflow(), 0, "no sideways scrolling");
      await page.locator(".stage").evaluate((stage) => stage.scrollIntoView({ block: "start" }));
      await screenshot(page, "11-completed-phone-dark");
      await assertClean(page, problems);
    } finally {
      await context.close();
    }
  });
});
