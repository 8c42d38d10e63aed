// Driving LivePage's web UI: open it (under a strict CSP, with recorders), fill the form, wait
// for states, read what it shows.

import { DESKTOP } from "./browser.mjs";

/**
 * The policy the tests hold the UI to: scripts from our own files only (no inline script, no
 * handler attributes, no eval), requests and frames to our own origin. Styles may be inline
 * because preview documents are srcdoc frames that inherit the policy and carry their page's
 * stylesheet inline; the UI's own markup has none (the first test checks its source).
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: https:",
  "font-src 'self' data: https:",
  "connect-src 'self'",
  "frame-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Runs in every document before its scripts. In the UI's own page it records, for the tests:
 * each preview snapshot shown (event id and size), each progress value, and CSP violations.
 */
function recorder() {
  if (window !== window.top) return;
  const record = { previews: [], percents: [], violations: [] };
  window.__livepage = record;
  document.addEventListener("securitypolicyviolation", (event) => {
    record.violations.push(`${event.violatedDirective} ${event.blockedURI}`);
  });
  const observe = () => {
    const panel = document.getElementById("panel-preview");
    new MutationObserver((mutations) => {
      for (const { target } of mutations) {
        if (target.tagName !== "IFRAME" || !target.classList.contains("is-front")) continue;
        record.previews.push({
          id: Number(target.dataset.eventId) || 0,
          url: target.getAttribute("srcdoc") === null ? target.src : null,
          size: (target.getAttribute("srcdoc") ?? "").length,
          state: document.getElementById("app").dataset.state,
        });
      }
    }).observe(panel, { subtree: true, attributes: true, attributeFilter: ["class"] });
    const progress = document.getElementById("progress");
    new MutationObserver(() => {
      record.percents.push(Number(progress.getAttribute("aria-valuenow")));
    }).observe(progress, { attributes: true, attributeFilter: ["aria-valuenow"] });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", observe);
  else observe();
}

/**
 * Opens the UI in a fresh browser context.
 * @returns {Promise<{context: import("playwright-core").BrowserContext, page: import("playwright-core").Page, problems: string[]}>}
 */
export async function openUi(
  browser,
  base,
  { device = DESKTOP, colorScheme = "light", csp = UI_CSP, path = "", waitForm = true } = {},
) {
  const context = await browser.newContext({ ...device, colorScheme });
  // Copy link writes to the clipboard; the tests read it back. (Granted here, once: a later
  // grant replaces an earlier one.)
  const permissions = ["clipboard-read", "clipboard-write"];
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`uncaught: ${err.message}`));
  page.on("console", (message) => {
    // Errors of the UI's own page; preview documents (about:srcdoc, their stylesheet script)
    // are the generated pages' business.
    if (message.type() === "error" && message.location().url.startsWith(base)) {
      problems.push(`console: ${message.text()}`);
    }
  });
  await context.grantPermissions(permissions);
  await page.addInitScript(recorder);
  if (csp) {
    // (See CHROMIUM_ARGS on why a rewritten response needs Local Network Access checks off.)
    await page.route(
      (url) => url.href.startsWith(base) && url.pathname === "/",
      async (route) => {
        const response = await route.fetch();
        const headers = { ...response.headers(), "content-security-policy": csp };
        await route.fulfill({ response, headers });
      },
    );
  }
  await page.goto(new URL(path, base).href);
  if (waitForm) await waitForForm(page);
  return { context, page, problems };
}

/** Waits until the form has been built from /api/options. */
export function waitForForm(page) {
  return page.waitForSelector("#page-types input:checked");
}

/** Fills the form as a person would. */
export async function fillForm(page, { prompt, email, pageType, theme }) {
  await page.fill("#prompt", prompt);
  if (email !== undefined) await page.fill("#email", email);
  if (pageType) await page.click(`label[for="page_type-${pageType}"]`);
  if (theme) await page.click(`label[for="theme-${theme}"]`);
}

export function waitForState(page, state, timeout = 60_000) {
  return page.waitForSelector(`#app[data-state="${state}"]`, { timeout });
}

/** What the UI recorded (see `recorder`). */
export function recorded(page) {
  return page.evaluate(() => window.__livepage);
}

/** The raw code view's text: the concatenated deltas as the UI shows them. */
export function codeText(page) {
  return page.evaluate(() => document.getElementById("code").textContent);
}

/** The generation id the UI keeps in its URL. */
export function generationId(page) {
  return new URL(page.url()).searchParams.get("g");
}

/** The frame of the preview currently shown. */
export async function shownPreviewFrame(page) {
  const element = await page.$("#panel-preview iframe.is-front");
  return element?.contentFrame();
}
