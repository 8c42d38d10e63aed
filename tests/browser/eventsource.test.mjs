// EventSource clients stop once they have a generation's final event: the events endpoint
// answers `204 No Content` to a Last-Event-ID (header, or `?last_event_id=`) at or past the
// final event id, and a WHATWG EventSource that gets a 204 "fails the connection": readyState
// CLOSED, no reconnection. Proven against two independent clients: the npm `eventsource`
// package in node, and Chromium's native EventSource in a page served by the app.
//
// Without the 204 these tests fail: the server used to answer the reconnect after `completed`
// with a 200 event stream (the events after the final one: none, or a summary) that then
// ended, and an EventSource reconnects after every stream that ends, every `retry` (here
// 200 ms), forever. readyState never becomes CLOSED, and `waitForClosed` below throws as soon
// as a client makes a third request ("reconnected 2 time(s)…"), long before its timeout.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { EventSource } from "eventsource";

import { eventStreamRequests, startGeneration } from "./lib/api.mjs";
import { launchBrowser, until } from "./lib/browser.mjs";
import { startServer } from "./lib/server.mjs";

/** The `retry:` hint the server sends: reconnections come quickly. */
const RETRY_MS = 200;
const CLOSED = 2;
const EVENT_TYPES = ["started", "progress", "delta", "preview", "completed", "error"];

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([
    startServer({ LIVEPAGE_SSE_RETRY: `${RETRY_MS}ms` }),
    launchBrowser(),
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

let generations = 0;
function newGeneration() {
  generations += 1;
  return startGeneration(server.url, {
    email: `eventsource-${generations}@example.com`,
    prompt: `A landing page for a lighthouse museum, number ${generations}`,
    page_type: "landing",
    theme: "elegant",
  });
}

/**
 * Waits until the client's readyState is CLOSED; throws as soon as it has made more than
 * `requests` allows (one connection and one reconnection unless told), or after `timeout`.
 * @param {{readyState: () => number | Promise<number>, requests: () => number | Promise<number>}} client
 */
async function waitForClosed(client, { allowed = 2, timeout = 15_000 } = {}) {
  await until(
    async () => {
      const made = await client.requests();
      if (made > allowed) {
        throw new Error(
          `the EventSource reconnected ${made - 1} time(s) (${made} requests) instead of stopping ` +
            `at the server's 204; readyState ${await client.readyState()}`,
        );
      }
      return (await client.readyState()) === CLOSED;
    },
    { timeout, interval: 20, what: "readyState CLOSED (2)" },
  );
}

/**
 * Opens an npm `eventsource` client on `url` that records its events, `open`s, `error`s and,
 * through the package's `fetch` option, each request it makes (Last-Event-ID and status).
 */
function npmClient(url) {
  const record = { requests: [], events: [], opens: 0, errors: [] };
  const source = new EventSource(url, {
    fetch: async (input, init) => {
      const request = { lastEventId: init?.headers?.["Last-Event-ID"] ?? null, status: null };
      record.requests.push(request);
      const response = await fetch(input, init);
      request.status = response.status;
      return response;
    },
  });
  const ended = new Promise((resolve) => {
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (event) => {
        // The client's own `error`s (a connection ended or failed) carry no data; the
        // server's `error` events do.
        if (typeof event.data !== "string") return;
        record.events.push({ type, id: event.lastEventId, data: JSON.parse(event.data) });
        if (type === "completed" || type === "error") resolve();
      });
    }
  });
  source.addEventListener("open", () => (record.opens += 1));
  source.addEventListener("error", (event) => {
    if (typeof event.data === "string") return;
    record.errors.push({ code: event.code, readyState: source.readyState });
  });
  return { source, record, ended };
}

/** Rejects after `ms` with what was being waited for. */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Ids strictly increasing, `started` first, `completed` last and only there. */
function assertWholeStream(events) {
  assert.equal(events[0]?.type, "started");
  assert.equal(events.at(-1)?.type, "completed");
  assert.equal(events.filter((e) => e.type === "completed").length, 1);
  const ids = events.map((e) => Number(e.id));
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i] > ids[i - 1], `event ids increase: ${ids[i - 1]} then ${ids[i]}`);
  }
}

/** The change in the server's count of event-stream requests, by status. */
function requestsSince(before, now) {
  const diff = {};
  for (const status of new Set([...Object.keys(before), ...Object.keys(now)])) {
    const added = (now[status] ?? 0) - (before[status] ?? 0);
    if (added) diff[status] = added;
  }
  return diff;
}

describe("an EventSource stops after the final event (204 No Content)", () => {
  test("the npm eventsource package follows a running generation to `completed`, reconnects once, gets 204 and stays CLOSED", async () => {
    const counted = await eventStreamRequests(server.url);
    const generation = await newGeneration();
    const { source, record, ended } = npmClient(generation.events_url);
    try {
      await within(ended, 60_000, "the `completed` event");
      const terminal = await generation.terminal;
      assertWholeStream(record.events);
      const completed = record.events.at(-1);
      assert.equal(completed.id, terminal.id);
      assert.equal(completed.data.page_id, terminal.data.page_id);

      await waitForClosed({ readyState: () => source.readyState, requests: () => record.requests.length });

      // One stream (200), then one reconnection that said it had the final event (204).
      assert.deepEqual(record.requests, [
        { lastEventId: null, status: 200 },
        { lastEventId: completed.id, status: 204 },
      ]);
      assert.equal(record.opens, 1);
      // The first error is the stream's end (reconnecting), the second the 204 (closed).
      assert.deepEqual(record.errors, [
        { code: undefined, readyState: 0 },
        { code: 204, readyState: CLOSED },
      ]);
      // The server saw the same: one stream, one 204.
      assert.deepEqual(requestsSince(counted, await eventStreamRequests(server.url)), {
        200: 1,
        204: 1,
      });
    } finally {
      source.close();
    }
  });

  test("the npm eventsource package resuming with ?last_event_id= gets the rest, then 204 for its Last-Event-ID header, not the stale query", async () => {
    const generation = await newGeneration();
    const terminal = await generation.terminal;
    const finalId = Number(terminal.id);
    const from = 5;
    assert.ok(finalId > from + 1, `a generation longer than ${from + 1} events (${finalId})`);

    const counted = await eventStreamRequests(server.url);
    // The URL keeps `?last_event_id=5` on every reconnection; the header the client adds
    // (the final id) must win, or the server would replay from 5 forever.
    const url = new URL(generation.events_url);
    url.searchParams.set("last_event_id", String(from));
    const { source, record, ended } = npmClient(url.href);
    try {
      await within(ended, 30_000, "the `completed` event");
      assert.ok(record.events.length > 0);
      assert.ok(Number(record.events[0].id) > from, `first id ${record.events[0].id} after ${from}`);
      assert.equal(record.events.at(-1).type, "completed");
      assert.equal(record.events.at(-1).id, terminal.id);

      await waitForClosed({ readyState: () => source.readyState, requests: () => record.requests.length });
      assert.deepEqual(record.requests, [
        { lastEventId: null, status: 200 },
        { lastEventId: terminal.id, status: 204 },
      ]);
      assert.deepEqual(requestsSince(counted, await eventStreamRequests(server.url)), {
        200: 1,
        204: 1,
      });
    } finally {
      source.close();
    }
  });

  test("the npm eventsource package opened with ?last_event_id= at the final event gets 204 at once: no open, no event", async () => {
    const generation = await newGeneration();
    const terminal = await generation.terminal;
    const url = new URL(generation.events_url);
    url.searchParams.set("last_event_id", terminal.id);
    const { source, record } = npmClient(url.href);
    try {
      await waitForClosed(
        { readyState: () => source.readyState, requests: () => record.requests.length },
        { allowed: 1 },
      );
      assert.deepEqual(record.requests, [{ lastEventId: null, status: 204 }]);
      assert.equal(record.opens, 0);
      assert.deepEqual(record.events, []);
      assert.deepEqual(record.errors, [{ code: 204, readyState: CLOSED }]);
    } finally {
      source.close();
    }
  });

  test("Chromium's native EventSource follows a generation to `completed`, reconnects once, gets 204 and is CLOSED", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const problems = [];
      page.on("pageerror", (err) => problems.push(`uncaught: ${err.message}`));
      // Every request the page makes for the event stream, as the browser's network sees it.
      const requests = [];
      page.on("request", (request) => {
        if (!/\/api\/generations\/[^/]+\/events/.test(request.url())) return;
        const entry = { lastEventId: null, status: null };
        requests.push(entry);
        request.allHeaders().then((headers) => (entry.lastEventId = headers["last-event-id"] ?? null));
        request.response().then((response) => (entry.status = response?.status() ?? null));
      });
      // A page of the app, so that the EventSource is same-origin (the UI's CSP allows
      // connect-src 'self').
      await page.goto(server.url);

      const counted = await eventStreamRequests(server.url);
      const generation = await newGeneration();
      const path = new URL(generation.events_url).pathname;
      await page.evaluate(
        ({ path, types }) => {
          const record = { events: [], opens: 0, errors: [] };
          const source = new EventSource(path);
          for (const type of types) {
            source.addEventListener(type, (event) => {
              if (!(event instanceof MessageEvent)) return; // the connection's own `error`
              record.events.push({ type, id: event.lastEventId, data: JSON.parse(event.data) });
            });
          }
          source.addEventListener("open", () => (record.opens += 1));
          source.addEventListener("error", (event) => {
            if (!(event instanceof MessageEvent)) record.errors.push({ readyState: source.readyState });
          });
          window.__eventSource = { source, record };
        },
        { path, types: EVENT_TYPES },
      );
      const readState = () =>
        page.evaluate(() => ({
          readyState: window.__eventSource.source.readyState,
          ...window.__eventSource.record,
        }));

      const terminal = await generation.terminal;
      await until(async () => (await readState()).events.some((e) => e.type === "completed"), {
        timeout: 30_000,
        what: "the `completed` event in the page",
      });
      await waitForClosed({
        readyState: async () => (await readState()).readyState,
        requests: () => requests.length,
      });
      const state = await readState();
      assertWholeStream(state.events);
      assert.equal(state.events.at(-1).id, terminal.id);
      assert.equal(state.events.at(-1).data.page_id, terminal.data.page_id);
      assert.equal(state.opens, 1);
      // The stream's end (reconnecting, CONNECTING), then the 204 (CLOSED).
      assert.deepEqual(state.errors, [{ readyState: 0 }, { readyState: CLOSED }]);

      await until(() => requests.every((r) => r.status !== null), { what: "the responses' statuses" });
      assert.deepEqual(requests, [
        { lastEventId: null, status: 200 },
        { lastEventId: terminal.id, status: 204 },
      ]);
      assert.deepEqual(requestsSince(counted, await eventStreamRequests(server.url)), {
        200: 1,
        204: 1,
      });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
