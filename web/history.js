// "Your pages": an email's published pages, newest first, a batch at a time.

import { getHistory } from "./api.js";
import { h } from "./dom.js";
import { formatDateTime, formatRelative, label, plural } from "./format.js";

const BATCH = 10;

export class HistoryList {
  /** @param {{list: HTMLElement, note: HTMLElement, more: HTMLButtonElement}} elements */
  constructor({ list, note, more }) {
    this.list = list;
    this.note = note;
    this.more = more;
    this.email = "";
    this.before = null;
    /** Answers to an older request (another email, an earlier refresh) are dropped. */
    this.ticket = 0;
    more.addEventListener("click", () => this.fetch(false));
  }

  /** Shows `email`'s pages from the newest (again, e.g. after a page was published). */
  load(email) {
    this.email = email;
    this.before = null;
    if (!email) {
      this.ticket++;
      this.list.replaceChildren();
      this.more.hidden = true;
      this.setNote("Enter your email to see the pages you have made.");
      return Promise.resolve();
    }
    return this.fetch(true);
  }

  async fetch(fromStart) {
    const ticket = ++this.ticket;
    this.list.setAttribute("aria-busy", "true");
    this.more.disabled = true;
    try {
      const batch = await getHistory(this.email, {
        before: fromStart ? null : this.before,
        limit: BATCH,
      });
      if (ticket !== this.ticket) return;
      const items = batch.pages.map(item);
      if (fromStart) this.list.replaceChildren(...items);
      else this.list.append(...items);
      this.before = batch.next_before;
      this.more.hidden = !this.before;
      this.setNote(
        this.list.childElementCount === 0
          ? "No pages yet. The first one you make will be listed here."
          : "",
      );
      // Keyboard users who asked for more land on the first of them.
      if (!fromStart) items[0]?.querySelector("a")?.focus();
    } catch (err) {
      if (ticket !== this.ticket) return;
      this.setNote(
        err.code === "invalid_email"
          ? "Enter a valid email to see the pages you have made."
          : "Your pages could not be loaded just now.",
      );
    } finally {
      if (ticket === this.ticket) {
        this.list.removeAttribute("aria-busy");
        this.more.disabled = false;
      }
    }
  }

  setNote(text) {
    this.note.textContent = text;
    this.note.hidden = !text;
  }
}

function item(page) {
  const created = new Date(page.created_at);
  return h(
    "li",
    { class: "history-item" },
    h(
      "a",
      { class: "history-link", href: page.live_url, target: "_blank", rel: "noopener" },
      h("span", { class: "history-title", text: page.title || "Untitled page" }),
      h("span", { class: "history-prompt", text: page.prompt }),
    ),
    h(
      "p",
      { class: "history-meta" },
      h("time", {
        datetime: page.created_at,
        title: formatDateTime(created),
        text: formatRelative(created),
      }),
      h("span", { text: plural(page.view_count, "view", "views") }),
      h("span", { text: `${label(page.page_type)} · ${label(page.theme)}` }),
      page.fallback && h("span", { class: "badge", text: "fallback" }),
    ),
  );
}
