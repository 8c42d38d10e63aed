// "Your pages": the pages of this browser's owner key, a batch at a time, against its own server
// (whose demo model writes at full speed, so that a long history is quick to make).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { generate } from "./lib/api.mjs";
import { launchBrowser, screenshot } from "./lib/browser.mjs";
import { startServer } from "./lib/server.mjs";
import { openUi } from "./lib/ui.mjs";

const EMAIL = "history@example.com";
const PAGES = 13;
/** The owner key the pages are made with, given to the browser as if it had made them. */
const OWNER_KEY = "history-test-owner-key-0123456789_abcdefghij";

/** Makes `key` this browser's owner key, and shows the UI again with it. */
async function useOwnerKey(page, key) {
  await page.evaluate((k) => localStorage.setItem("livepage.owner-key", k), key);
  await page.reload();
}

let server;
let browser;
let made;

before(async () => {
  [server, browser] = await Promise.all([startServer({ LIVEPAGE_DEMO_PACE: "0ms" }), launchBrowser()]);
  made = [];
  for (let i = 1; i <= PAGES; i++) {
    const { terminal } = await generate(server.url, {
      email: EMAIL,
      prompt: `Page number ${i}: a studio for ceramics classes`,
      page_type: i % 2 ? "landing" : "event",
      theme: "minimal",
    }, { ownerKey: OWNER_KEY });
    assert.equal(terminal.type, "completed");
    made.push(terminal);
  }
  // One visit to the newest page, to be counted.
  await fetch(made.at(-1).live_url);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("lists this browser's pages newest first, ten at a time, with titles, links and views", async () => {
  const { context, page, problems } = await openUi(browser, server.url);
  try {
    // A browser that has made nothing has nothing listed, and a key of its own.
    await page.waitForSelector("#history-note:has-text('No pages yet')");
    const own = await page.evaluate(() => localStorage.getItem("livepage.owner-key"));
    assert.match(own, /^[A-Za-z0-9_-]{48}$/);
    assert.notEqual(own, OWNER_KEY);

    await useOwnerKey(page, OWNER_KEY);
    const items = page.locator("#history-list .history-item");
    await items.nth(9).waitFor();
    assert.equal(await items.count(), 10);

    const newest = made.at(-1);
    const first = items.first();
    assert.equal(await first.locator(".history-title").textContent(), newest.title);
    assert.equal(await first.locator("a").getAttribute("href"), newest.live_url);
    assert.equal(await first.locator("a").getAttribute("target"), "_blank");
    assert.match(await first.locator(".history-prompt").textContent(), /Page number 13/);
    const meta = await first.locator(".history-meta").textContent();
    assert.match(meta, /just now/);
    assert.match(meta, /1 view(?!s)/);
    assert.match(meta, /Landing · Minimal/);
    assert.match(await items.nth(1).locator(".history-prompt").textContent(), /Page number 12/);
    assert.match(await items.nth(1).locator(".history-meta").textContent(), /0 views/);

    const more = page.locator("#history-more");
    assert.equal(await more.isVisible(), true);
    await more.click();
    await items.nth(PAGES - 1).waitFor();
    assert.equal(await items.count(), PAGES);
    assert.equal(await more.isVisible(), false, "no more pages");
    assert.match(await items.last().locator(".history-prompt").textContent(), /Page number 1:/);
    // Keyboard users land on the first of the older pages.
    assert.equal(
      await page.evaluate(() => document.activeElement?.closest(".history-item")?.querySelector(".history-prompt")?.textContent),
      "Page number 3: a studio for ceramics classes",
    );
    await screenshot(page, "12-history-desktop", { fullPage: true });

    // Another browser's key: another list.
    await useOwnerKey(page, "another-owner-key-0123456789_abcdefghijklmn");
    await page.waitForSelector("#history-note:has-text('No pages yet')");
    assert.equal(await items.count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("remembers the email and the owner key on this device", async () => {
  const { context, page } = await openUi(browser, server.url);
  try {
    await page.evaluate((email) => localStorage.setItem("livepage.email", email), EMAIL);
    await useOwnerKey(page, OWNER_KEY);
    assert.equal(await page.inputValue("#email"), EMAIL);
    await page.locator("#history-list .history-item").nth(9).waitFor();
  } finally {
    await context.close();
  }
});
