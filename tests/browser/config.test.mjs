// The UI follows the server's configuration: here, a server that allows two models and one
// generation per email a minute.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { getJson } from "./lib/api.mjs";
import { launchBrowser, screenshot } from "./lib/browser.mjs";
import { startServer } from "./lib/server.mjs";
import { fillForm, generationId, openUi, waitForState } from "./lib/ui.mjs";

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([
    startServer({
      LIVEPAGE_MODEL: "demo/house-model",
      LIVEPAGE_MODELS: "demo/other-model",
      LIVEPAGE_RATE_LIMIT_PER_EMAIL: "1",
    }),
    launchBrowser(),
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("offers the allowed models and sends the one chosen", async () => {
  const options = await getJson(server.url, "api/options");
  assert.deepEqual(options.models, ["demo/house-model", "demo/other-model"]);
  assert.equal(options.default_model, "demo/house-model");

  const { context, page, problems } = await openUi(browser, server.url);
  try {
    assert.equal(await page.isVisible("#model-field"), true);
    const offered = await page.$$eval("#model option", (all) => all.map((o) => o.value));
    assert.deepEqual(offered, options.models);
    assert.equal(await page.inputValue("#model"), "demo/house-model");

    await fillForm(page, { prompt: "A resume for a lighthouse keeper", email: "models@example.com" });
    await page.selectOption("#model", "demo/other-model");
    await page.click("#generate");
    await page.waitForSelector("#cancel:not([hidden])");
    const status = await getJson(server.url, `api/generations/${generationId(page)}`);
    assert.equal(status.model, "demo/other-model");
    await page.click("#cancel");
    await waitForState(page, "cancelled", 10_000);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("says when a request is refused, and offers to try again", async () => {
  const { context, page, problems } = await openUi(browser, server.url);
  try {
    await fillForm(page, { prompt: "A page for a bicycle repair cafe", email: "limited@example.com" });
    await page.click("#generate");
    await page.waitForSelector("#cancel:not([hidden])");
    await page.click("#cancel");
    await waitForState(page, "cancelled", 10_000);

    // The email's one generation this minute is spent: the server answers 429.
    await page.click("#retry");
    await waitForState(page, "error", 10_000);
    assert.match(await page.textContent("#failure-text"), /several pages in a short time\. Please wait \d+ seconds/);
    assert.equal(await page.textContent("#retry"), "Try again");
    assert.equal(await page.isVisible("#retry"), true);
    assert.equal(await page.getAttribute("#app", "data-state"), "error");
    await screenshot(page, "13-refused-desktop");
    // The refusal is the browser's console error for a 429, nothing else.
    assert.deepEqual(problems.filter((p) => !p.includes("429")), []);
  } finally {
    await context.close();
  }
});
