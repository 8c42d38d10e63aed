// Refining a page in Chromium, in demo mode: type a change under the preview of a published
// page, watch it applied live, switch between versions, restore one, download; all of it still
// there after a reload. Every check waits for the state it expects (polling), never for an
// unrelated status text: the switcher is read once it shows what is expected.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { launchBrowser, screenshot, until } from "./lib/browser.mjs";
import { startServer } from "./lib/server.mjs";
import { fillForm, openUi, shownPreviewFrame, waitForState } from "./lib/ui.mjs";

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([startServer({ LIVEPAGE_DEMO_PACE: "2ms" }), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The text of the preview shown, once its frame has a body. */
async function previewText(page) {
  const frame = await shownPreviewFrame(page);
  if (!frame) return "";
  try {
    return (await frame.evaluate(() => document.body?.innerText ?? "")) || "";
  } catch {
    return ""; // the frame is being swapped
  }
}

/** The switcher's buttons: `[{n, pressed}]`. */
function switcher(page) {
  return page.$$eval("#versions button[data-version]", (buttons) =>
    buttons.map((b) => ({ n: Number(b.dataset.version), pressed: b.getAttribute("aria-pressed") === "true" })),
  );
}

/** Waits until the switcher offers exactly versions 1..count, with `pressed` chosen. */
async function untilSwitcher(page, count, pressed) {
  const expected = Array.from({ length: count }, (_, i) => ({ n: i + 1, pressed: i + 1 === pressed }));
  return until(
    async () => {
      const shown = await switcher(page);
      return JSON.stringify(shown) === JSON.stringify(expected) ? shown : null;
    },
    { what: `versions v1..v${count} with v${pressed} chosen`, timeout: 30_000 },
  );
}

async function untilPreview(page, check, what) {
  return until(async () => check(await previewText(page)), { what, timeout: 30_000 });
}

/**
 * Waits until the preview in front shows the page at a URL ending in `suffix` (a version is
 * shown by its URL; its document runs no script, so it is read over HTTP, not in the frame).
 */
async function untilPreviewUrl(page, suffix) {
  const src = await until(
    async () => {
      const src = await page.getAttribute("#panel-preview iframe.is-front", "src").catch(() => null);
      return src?.endsWith(suffix) ? src : null;
    },
    { what: `the preview showing …${suffix}`, timeout: 30_000 },
  );
  return (await fetch(src)).text();
}

describe("refining a page", () => {
  test("applies a change live, switches versions, restores one and survives a reload", async () => {
    const { context, page, problems } = await openUi(browser, server.url);
    try {
      await fillForm(page, { prompt: "A landing page for Harbor Bakery", email: "ann@example.com" });
      await page.click("#generate");
      await waitForState(page, "completed");
      await page.locator("#refine").waitFor({ state: "visible" });
      await untilSwitcher(page, 1, 1);

      // A new headline: the demo model answers with an edit block, applied in the preview.
      await page.fill("#refine-prompt", 'change the headline to "Bread worth waking up for"');
      await page.click("#refine-submit");
      await untilPreview(page, (text) => text.includes("Bread worth waking up for"), "the new headline in the preview");
      await waitForState(page, "completed");
      await page.waitForSelector('#result-title:text("Version 2 is live")');
      await untilSwitcher(page, 2, 2);
      const live = await page.getAttribute("#live-url", "href");
      const served = await (await fetch(live)).text();
      assert.match(served, /Bread worth waking up for/);

      // A section added: version 3, applied live too.
      await page.fill("#refine-prompt", "add a section about opening hours");
      await page.click("#refine-submit");
      await untilPreview(page, (text) => /Opening hours/.test(text), "the new section in the preview");
      await untilSwitcher(page, 3, 3);
      await screenshot(page, "40-refine-version-3", { fullPage: true });

      // Back to version 1 in the preview: the first headline, and an offer to restore it.
      await page.click('#versions button[data-version="1"]');
      await untilSwitcher(page, 3, 1);
      const first = await untilPreviewUrl(page, "/v/1");
      assert.doesNotMatch(first, /Bread worth waking up for/);
      assert.match(first, /Harbor Bakery/);
      await page.locator("#restore").waitFor({ state: "visible" });
      assert.match(await page.getAttribute("#download", "href"), /\/v\/1\/download$/);

      await page.click("#restore");
      // Wait for the switcher itself to offer v4 as chosen: not for the status text.
      await untilSwitcher(page, 4, 4);
      await page.locator("#restore").waitFor({ state: "hidden" });
      const restored = await (await fetch(live)).text();
      assert.doesNotMatch(restored, /Bread worth waking up for/);
      assert.doesNotMatch(restored, /Opening hours/);

      // The download is the version shown, as a file named after the title.
      const download = await page.getAttribute("#download", "href");
      const response = await fetch(new URL(download, server.url));
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-disposition"), /^attachment; filename="harbor-bakery[a-z-]*\.html"$/);

      // After a reload the page, its versions and the refine box are all still there.
      await page.reload();
      await waitForState(page, "completed");
      await page.locator("#refine").waitFor({ state: "visible" });
      await untilSwitcher(page, 4, 4);

      // Leaving it and coming back from "Your pages": the same page, ready to refine.
      await page.click("#new-page");
      await page.locator("#refine").waitFor({ state: "hidden" });
      const pageId = new URL(live).pathname.split("/").pop();
      await page.click(`.history-item[data-page-id="${pageId}"] [data-action=refine]`);
      await page.locator("#refine").waitFor({ state: "visible" });
      await untilSwitcher(page, 4, 4);
      await untilPreviewUrl(page, `/p/${pageId}`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test("a refine can be cancelled, and its stream resumes after a reload", async () => {
    const slow = await startServer({ LIVEPAGE_DEMO_PACE: "10ms" });
    const { context, page, problems } = await openUi(browser, slow.url);
    try {
      await fillForm(page, { prompt: "A page for a tiny ramen bar", email: "ann@example.com" });
      // The page itself is written slowly too: wait for it.
      await page.click("#generate");
      await waitForState(page, "completed", 120_000);
      await untilSwitcher(page, 1, 1);

      // A colour change is many edit blocks: long enough to reload in the middle of it.
      await page.fill("#refine-prompt", "make it green");
      await page.click("#refine-submit");
      await until(async () => (await page.textContent("#stage-label")).startsWith("Applying your change ("), {
        what: "the first edits counted",
        timeout: 30_000,
      });
      await page.reload();
      // Resumed from where it was: it finishes as version 2 without starting again.
      await waitForState(page, "completed", 120_000);
      await untilSwitcher(page, 2, 2);

      // Another change, cancelled: nothing saved, the switcher unchanged.
      await page.fill("#refine-prompt", "make it red");
      await page.click("#refine-submit");
      await page.locator("#cancel").waitFor({ state: "visible" });
      await until(async () => (await page.textContent("#stage-label")).startsWith("Applying your change"), {
        what: "the refine under way",
        timeout: 30_000,
      });
      await page.click("#cancel");
      await waitForState(page, "cancelled");
      await untilSwitcher(page, 2, 2);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await slow.stop();
    }
  });
});
