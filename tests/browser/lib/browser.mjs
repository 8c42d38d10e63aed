// Debian's Chromium, headless, driven by playwright-core (no browser download: the network
// here reaches package registries only). Each launch gets a fresh temporary profile.

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { chromium } from "playwright-core";

import { ROOT } from "./server.mjs";

export const CHROMIUM = process.env.LIVEPAGE_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Tests add a Content-Security-Policy to the UI's page by rewriting its response in the
 * browser. A rewritten response has no server address, so Chromium puts the page in the public
 * address space, and its preview documents' requests to this loopback server (for
 * preview-frame.js) would need the local-network permission, which a sandboxed document cannot
 * be granted. Served for real, the page shares its server's address space and needs none (a
 * test checks that with these checks on).
 */
const WITHOUT_LOCAL_NETWORK_CHECKS = "--disable-features=LocalNetworkAccessChecks";

/** Where screenshots go (gitignored). */
export const OUTPUT_DIR = process.env.LIVEPAGE_TEST_OUTPUT ?? path.join(ROOT, "test-output");

/**
 * Launches the browser; close it in an `after` hook.
 * @param {{localNetworkChecks?: boolean}} [options] keep Chromium's Local Network Access checks
 *   (for pages served as they are, without a rewritten response)
 */
export function launchBrowser({ localNetworkChecks = false } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: localNetworkChecks ? CHROMIUM_ARGS : [...CHROMIUM_ARGS, WITHOUT_LOCAL_NETWORK_CHECKS],
  });
}

/** A desktop and a phone, as contexts are made in the tests. */
export const DESKTOP = { viewport: { width: 1360, height: 880 } };
export const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

/** Saves a screenshot as test-output/NAME.png and returns its path. */
export async function screenshot(page, name, options = {}) {
  await mkdir(OUTPUT_DIR, { recursive: true });
  const file = path.join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, ...options });
  return file;
}

/**
 * Polls `check` (sync or async) until it returns a truthy value, which is returned. For state
 * that has no event to wait on, such as a scroll position inside a cross-origin frame.
 */
export async function until(check, { timeout = 15_000, interval = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
