// The UI's SSE parser (web/sse.js) and code highlighter, in node: they are pure modules.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { HtmlTokenizer } from "../../web/code-view.js";
import { SseParser, readEvents } from "../../web/sse.js";

describe("the UI's SSE parser", () => {
  test("reads events with ids, types and JSON data, and skips comments", () => {
    const parser = new SseParser();
    const events = parser.push(
      ': keep-alive\n\nretry: 2000\nid: 1\nevent: started\ndata: {"a":1}\n\nid: 2\nevent: delta\ndata: {"text":"<p>"}\n\n',
    );
    assert.deepEqual(events, [
      { type: "started", data: '{"a":1}', id: "1" },
      { type: "delta", data: '{"text":"<p>"}', id: "2" },
    ]);
    assert.equal(parser.retry, 2000);
  });

  test("gives the same events however the stream is cut into chunks", () => {
    const stream =
      'id: 7\r\nevent: delta\r\ndata: {"text":"é ✓"}\r\n\r\nid: 8\revent: progress\rdata: {"percent":40}\r\r' +
      "id: 9\nevent: completed\ndata: line one\ndata: line two\n\n";
    const whole = new SseParser().push(stream);
    assert.equal(whole.length, 3);
    assert.equal(whole[2].data, "line one\nline two");
    for (let size = 1; size <= 7; size++) {
      const parser = new SseParser();
      const events = [];
      for (let at = 0; at < stream.length; at += size) events.push(...parser.push(stream.slice(at, at + size)));
      assert.deepEqual(events, whole, `chunks of ${size}`);
    }
  });

  test("keeps the last id for events without one, and ignores data-less events", () => {
    const parser = new SseParser();
    const events = parser.push("id: 4\nevent: ping\n\nevent: delta\ndata: x\n\n");
    assert.deepEqual(events, [{ type: "delta", data: "x", id: "4" }]);
  });

  test("drops an event cut off by the end of the body", async () => {
    const body = 'id: 1\nevent: delta\ndata: {"text":"a"}\n\nid: 2\nevent: delta\ndata: {"te';
    const events = [];
    for await (const event of readEvents(new Response(body))) events.push(event);
    assert.deepEqual(events.map((e) => e.id), ["1"]);
  });
});

describe("the code view's highlighter", () => {
  const html =
    '<!DOCTYPE html>\n<!-- a > b -->\n<a class="btn primary" href=\'#top\' data-x=1 hidden>Go &amp; see</a>\n';

  test("colours tags, attributes, values and comments, keeping the text exact", () => {
    const pieces = new HtmlTokenizer().feed(html);
    assert.equal(pieces.map(([, text]) => text).join(""), html);
    const kinds = Object.fromEntries(pieces.filter(([k]) => k).map(([kind, text]) => [text, kind]));
    // (A "<" is coloured before the character that says what it opens has arrived.)
    assert.equal(kinds["!DOCTYPE html>"], "tk-c");
    assert.equal(kinds["!-- a > b -->"], "tk-c");
    assert.equal(kinds.a, "tk-t");
    assert.equal(kinds.class, "tk-a");
    assert.equal(kinds['"btn primary"'], "tk-v");
    assert.equal(kinds["'#top'"], "tk-v");
    assert.equal(kinds["1"], "tk-v");
    assert.equal(kinds.hidden, "tk-a");
  });

  test("colours the same whatever the deltas' boundaries", () => {
    const whole = new HtmlTokenizer().feed(html);
    const flatten = (pieces) => pieces.flatMap(([kind, text]) => [...text].map((ch) => `${kind}:${ch}`));
    for (let size = 1; size <= 5; size++) {
      const tokenizer = new HtmlTokenizer();
      const pieces = [];
      for (let at = 0; at < html.length; at += size) pieces.push(...tokenizer.feed(html.slice(at, at + size)));
      assert.deepEqual(flatten(pieces), flatten(whole), `deltas of ${size}`);
    }
  });
});
