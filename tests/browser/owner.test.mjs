// Owners and visitors in Chromium: "Your pages" unpublishes, publishes again and deletes (after
// a confirmation) the pages this browser made; a visitor follows a live page's "Report" link to
// the report form, is told inline what is missing, and sends the report, which reaches the
// admin's queue.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { generate } from "./lib/api.mjs";
import { DESKTOP, launchBrowser, screenshot, until } from "./lib/browser.mjs";
import { startServer } from "./lib/server.mjs";
import { openUi, recorded } from "./lib/ui.mjs";

const ADMIN_TOKEN = "browser-test-admin-token-5d2f";
const OWNER_KEY = "browser-owner-key-0123456789_abcdefghijklmnopq";

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([
    startServer({ LIVEPAGE_DEMO_PACE: "0ms", ADMIN_TOKEN }),
    launchBrowser(),
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Makes a page owned by `OWNER_KEY`; its `completed` event. */
async function makePage(prompt) {
  const { terminal } = await generate(
    server.url,
    { email: "owner@example.com", prompt, theme: "playful" },
    { ownerKey: OWNER_KEY },
  );
  assert.equal(terminal.type, "completed");
  return terminal;
}

async function status(url) {
  return (await fetch(url)).status;
}

/** The UI, as the browser that made the pages. */
async function openAsOwner() {
  const opened = await openUi(browser, server.url);
  await opened.page.evaluate((key) => localStorage.setItem("livepage.owner-key", key), OWNER_KEY);
  await opened.page.reload();
  return opened;
}

describe("your pages", () => {
  test("unpublishes a page, publishes it again, and deletes it after a confirmation", async () => {
    const kept = await makePage("A page for a kite festival on the beach");
    const made = await makePage("A page for a night market of street food");
    const { context, page, problems } = await openAsOwner();
    try {
      const item = page.locator(`.history-item[data-page-id="${made.page_id}"]`);
      await item.waitFor();
      assert.equal(await item.getAttribute("data-status"), "published");

      await item.locator("[data-action=unpublish]").click();
      await page.waitForSelector(`.history-item[data-page-id="${made.page_id}"][data-status="unpublished"]`);
      assert.match(await item.locator(".history-meta").textContent(), /unpublished/);
      assert.equal(await item.locator("a.history-link").count(), 0, "no link to a page that is not served");
      assert.equal(await status(made.live_url), 404);
      assert.equal(
        await page.evaluate(() => document.activeElement?.dataset.action),
        "publish",
        "the focus stays on the button, which now publishes",
      );
      await screenshot(page, "20-your-pages-unpublished", { fullPage: true });

      await item.locator("[data-action=publish]").click();
      await page.waitForSelector(`.history-item[data-page-id="${made.page_id}"][data-status="published"]`);
      assert.equal(await status(made.live_url), 200);

      // Delete asks first; "Keep" keeps it.
      await item.locator("[data-action=delete]").click();
      const confirm = item.locator(".history-confirm");
      await confirm.waitFor();
      assert.match(await confirm.textContent(), /Delete this page\?/);
      await screenshot(page, "21-your-pages-confirm-delete", { fullPage: true });
      await confirm.locator("button", { hasText: "Keep" }).click();
      await item.locator("[data-action=delete]").waitFor();
      assert.equal(await status(made.live_url), 200);

      await item.locator("[data-action=delete]").click();
      await item.locator("[data-action=confirm-delete]").click();
      await item.waitFor({ state: "detached" });
      assert.equal(await status(made.live_url), 410);
      assert.equal(await status(kept.live_url), 200, "the other page is untouched");
      assert.equal(await page.locator(`.history-item[data-page-id="${kept.page_id}"]`).count(), 1);

      // A fresh load agrees.
      await page.reload();
      await page.locator(`.history-item[data-page-id="${kept.page_id}"]`).waitFor();
      assert.equal(await page.locator(`.history-item[data-page-id="${made.page_id}"]`).count(), 0);
      const { violations } = await recorded(page);
      assert.deepEqual(violations, []);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});

describe("reporting a page", () => {
  test("the page's Report link leads to the form, which reports it to the admin", async () => {
    const made = await makePage("A page for a summer concert in the park");
    const context = await browser.newContext({ ...DESKTOP });
    const problems = [];
    try {
      const page = await context.newPage();
      page.on("pageerror", (err) => problems.push(`uncaught: ${err.message}`));
      page.on("console", (message) => {
        // The live page is sandboxed without scripts: Chromium refuses Playwright's own helper
        // scripts there and says so. Only the report form's errors are the UI's.
        if (message.type() === "error" && message.location().url.includes("/report")) {
          problems.push(message.text());
        }
      });
      await page.goto(made.live_url);

      // The link is there, on top of the page, in its corner, and under the page's policy.
      const link = page.locator('a[href*="/report?page="]');
      assert.equal(await link.count(), 1);
      assert.equal(await link.textContent(), "Report");
      assert.ok(await link.isVisible());
      const box = await link.boundingBox();
      const viewport = page.viewportSize();
      assert.ok(box.x + box.width <= viewport.width && box.x > viewport.width / 2, `right side: ${JSON.stringify(box)}`);
      assert.ok(box.y > viewport.height / 2, `bottom: ${JSON.stringify(box)}`);
      await screenshot(page, "22-live-page-report-link");

      await link.click();
      await page.waitForURL(/\/report\?page=/);
      assert.equal(new URL(page.url()).searchParams.get("page"), made.page_id);
      await page.waitForSelector("#report-form");

      // Nothing chosen: said inline, next to the reasons.
      await page.click("#report-submit");
      await page.waitForSelector("#reason-error:not([hidden])");
      assert.match(await page.textContent("#reason-error"), /Choose what is wrong/);
      assert.equal(await page.getAttribute("#reasons", "aria-invalid"), "true");

      await page.click("label:has(input[value=phishing])");
      assert.equal(await page.isHidden("#reason-error"), true, "choosing clears the error");
      await page.fill("#details", "It imitates a bank and asks for card numbers.");
      await page.fill("#contact", "visitor@example.com");
      await screenshot(page, "23-report-form");
      await page.click("#report-submit");
      await page.waitForSelector("#report-done:not([hidden])");
      const reportId = (await page.textContent("#report-id")).trim();
      assert.match(reportId, /^[0-9a-f-]{36}$/);
      assert.equal(await page.isHidden("#report-form"), true);
      await screenshot(page, "24-report-sent");

      const queue = await (
        await fetch(new URL("api/admin/reports", server.url), {
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        })
      ).json();
      const filed = queue.reports.find((report) => report.report_id === reportId);
      assert.ok(filed, JSON.stringify(queue));
      assert.equal(filed.page_id, made.page_id);
      assert.equal(filed.reason, "phishing");
      assert.equal(filed.details, "It imitates a bank and asks for card numbers.");
      assert.equal(filed.contact, "visitor@example.com");

      // Taken down on that report: the next visit gets the plain 410 page.
      const resolved = await fetch(new URL(`api/admin/reports/${reportId}/resolve`, server.url), {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ action: "takedown" }),
      });
      assert.equal(resolved.status, 200);
      const response = await page.goto(made.live_url);
      assert.equal(response.status(), 410);
      assert.match(await page.textContent("h1"), /This page was removed/);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test("a report that cannot be sent says why, inline", async () => {
    const made = await makePage("A page for a pottery workshop");
    const { context, page } = await openUi(browser, server.url, { path: `report?page=${made.page_id}`, csp: null, waitForm: false });
    try {
      // The page goes away before the report is sent.
      const gone = await fetch(new URL(`api/pages/${made.page_id}`, server.url), {
        method: "DELETE",
        headers: { authorization: `Bearer ${OWNER_KEY}` },
      });
      assert.equal(gone.status, 204);
      await page.click("label:has(input[value=spam])");
      await page.click("#report-submit");
      await page.waitForSelector("#report-failure:not([hidden])");
      assert.match(await page.textContent("#report-failure"), /cannot be reported/);
      assert.equal(await page.isVisible("#report-form"), true, "the form stays, to try again");

      // Without a page to report, the form says so instead of showing.
      await page.goto(new URL("report", server.url).href);
      await page.waitForSelector("#report-failure:not([hidden])");
      assert.match(await page.textContent("#report-failure"), /No page to report/);
      assert.equal(await page.isHidden("#report-form"), true);
      await until(async () => (await page.evaluate(() => document.activeElement?.id)) === "report-failure", {
        what: "the message has the focus",
      });
    } finally {
      await context.close();
    }
  });
});
