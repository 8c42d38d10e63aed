// Icons render as icons (docs/ARCHITECTURE.md, "Styles"): a page that the model wrote with
// Material Symbols, Material Icons and Font Awesome, each linked from its CDN as models do,
// goes through the real binary and is opened at its live URL in Chromium, under the headers
// the server sends (a sandboxed page, so its font requests are cross-origin). The stylesheet
// links are removed by the sanitizer; the fonts must come from LivePage itself.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { generate } from "./lib/api.mjs";
import { launchBrowser, screenshot } from "./lib/browser.mjs";
import { startServer } from "./lib/server.mjs";
import { startFakeModel } from "./lib/xss.mjs";

const PAGE = `<!DOCTYPE html><html lang="en"><head><title>Icons</title>
<link href="https://fonts.googleapis.com/css2?family=Material+Symbols+Outlined" rel="stylesheet">
<link href="https://fonts.googleapis.com/icon?family=Material+Icons" rel="stylesheet">
<link rel="stylesheet" href="https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.5.1/css/all.min.css">
</head><body class="p-8 text-slate-900">
<p><span id="symbol" class="material-symbols-outlined">download</span></p>
<p><span id="icon" class="material-icons">home</span></p>
<p><span id="word" class="text-[24px]">download</span></p>
<p><i id="solid" class="fa-solid fa-key"></i> <i id="brand" class="fab fa-github"></i></p>
</body></html>`;

let browser;
let model;
let server;

before(async () => {
  [browser, model] = await Promise.all([launchBrowser(), startFakeModel(() => PAGE)]);
  server = await startServer({
    OPENROUTER_API_KEY: "sk-icons-not-a-real-key",
    OPENROUTER_BASE_URL: model.url,
    LIVEPAGE_FALLBACK: "false",
  });
});

after(async () => {
  await server?.stop();
  await browser?.close();
  await model?.close();
});

test("a page's icon fonts load from LivePage under the page's own policy", async () => {
  const { terminal } = await generate(server.url, { email: "icons@example.com", prompt: "icons" });
  assert.equal(terminal.type, "completed", JSON.stringify(terminal));
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  try {
    const page = await context.newPage();
    const violations = [];
    page.on("console", (message) => {
      if (/Content.Security.Policy|CORS|Failed to load/i.test(message.text())) violations.push(message.text());
    });
    const fontResponses = [];
    page.on("response", (response) => {
      if (response.url().includes("/fonts/")) fontResponses.push(`${response.status()} ${response.url()}`);
    });
    const response = await page.goto(new URL(terminal.live_url, server.url).href);
    assert.match(response.headers()["content-security-policy"], /^sandbox; .*font-src 'self'/);

    // The page runs no script; the test's own evaluation runs beside it.
    const loaded = await page.evaluate(async () => {
      await document.fonts.ready;
      return [...document.fonts].filter((font) => font.status === "loaded").map((font) => font.family);
    });
    const families = new Set(loaded.map((family) => family.replaceAll('"', "")));
    for (const family of ["Material Symbols Outlined", "Material Icons", "Font Awesome 6 Free", "Font Awesome 6 Brands"]) {
      assert.ok(families.has(family), `${family} loaded (loaded: ${[...families].join(", ")}; fonts fetched: ${fontResponses.join(", ")})`);
    }
    assert.deepEqual(violations, []);

    // A ligature is one glyph of the font's size, not the word.
    const width = async (id) => (await page.locator(`#${id}`).boundingBox()).width;
    const [symbol, icon, word] = [await width("symbol"), await width("icon"), await width("word")];
    assert.ok(symbol <= 30 && icon <= 30, `icons are one 24px glyph wide: ${symbol}, ${icon}`);
    assert.ok(word > 60, `the word itself is wider: ${word}`);
    assert.ok((await width("solid")) > 8 && (await width("brand")) > 8, "Font Awesome glyphs are drawn");
    await screenshot(page, "14-icons");
  } finally {
    await context.close();
  }
});
