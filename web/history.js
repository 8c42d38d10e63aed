// "Your pages": the pages made in this browser (by its owner key), newest first, a batch at a
// time, each with what its owner may do: refine it, unpublish or publish it again, delete it.

import { deletePage, getHistory, setPublished } from "./api.js";
import { h } from "./dom.js";
import { formatDateTime, formatRelative, label, plural } from "./format.js";

const BATCH = 10;

const STATUS_TEXT = {
  unpublished: "unpublished",
  removed: "taken down",
};

export class HistoryList {
  /**
   * @param {{list: HTMLElement, note: HTMLElement, more: HTMLButtonElement}} elements
   * @param {(page: any) => void} [onRefine] opens a page to refine it
   */
  constructor({ list, note, more }, onRefine = null) {
    this.onRefine = onRefine;
    this.list = list;
    this.note = note;
    this.more = more;
    this.before = null;
    /** Answers to an older request (an earlier refresh) are dropped. */
    this.ticket = 0;
    more.addEventListener("click", () => this.fetch(false));
  }

  /** Shows this browser's pages from the newest (again, e.g. after a page was published). */
  load() {
    this.before = null;
    return this.fetch(true);
  }

  async fetch(fromStart) {
    const ticket = ++this.ticket;
    this.list.setAttribute("aria-busy", "true");
    this.more.disabled = true;
    try {
      const batch = await getHistory({ before: fromStart ? null : this.before, limit: BATCH });
      if (ticket !== this.ticket) return;
      const items = batch.pages.map((page) => this.item(page));
      if (fromStart) this.list.replaceChildren(...items);
      else this.list.append(...items);
      this.before = batch.next_before;
      this.more.hidden = !this.before;
      this.updateNote();
      // Keyboard users who asked for more land on the first of them.
      if (!fromStart) items[0]?.querySelector("a")?.focus();
    } catch {
      if (ticket !== this.ticket) return;
      this.setNote("Your pages could not be loaded just now.");
    } finally {
      if (ticket === this.ticket) {
        this.list.removeAttribute("aria-busy");
        this.more.disabled = false;
      }
    }
  }

  updateNote() {
    this.setNote(
      this.list.childElementCount === 0
        ? "No pages yet. The pages you make in this browser are listed here."
        : "",
    );
  }

  setNote(text) {
    this.note.textContent = text;
    this.note.hidden = !text;
  }

  /** One page, with its actions. */
  item(page) {
    const li = h("li", { class: "history-item", "data-page-id": page.id });
    this.fill(li, page);
    return li;
  }

  fill(li, page) {
    const created = new Date(page.created_at);
    const live = page.status === "published";
    li.dataset.status = page.status;
    li.replaceChildren(
      h(
        live ? "a" : "div",
        live
          ? { class: "history-link", href: page.live_url, target: "_blank", rel: "noopener" }
          : { class: "history-link" },
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
        STATUS_TEXT[page.status] &&
          h("span", { class: `badge badge-${page.status}`, text: STATUS_TEXT[page.status] }),
      ),
      this.actions(li, page),
    );
  }

  /** Unpublish / Publish and Delete; a page taken down can only be deleted. */
  actions(li, page) {
    const error = h("p", { class: "field-error history-error", role: "alert", hidden: true });
    const title = page.title || "Untitled page";
    const toggle =
      page.status !== "removed" &&
      h("button", {
        type: "button",
        class: "btn btn-small btn-quiet",
        "data-action": page.is_public ? "unpublish" : "publish",
        "aria-label": `${page.is_public ? "Unpublish" : "Publish"} “${title}”`,
        text: page.is_public ? "Unpublish" : "Publish",
      });
    const remove = h("button", {
      type: "button",
      class: "btn btn-small btn-quiet btn-danger",
      "data-action": "delete",
      "aria-label": `Delete “${title}”`,
      text: "Delete",
    });
    const refine =
      this.onRefine &&
      page.status !== "removed" &&
      h("button", {
        type: "button",
        class: "btn btn-small btn-quiet",
        "data-action": "refine",
        "aria-label": `Refine “${title}”`,
        text: "Refine",
      });
    refine?.addEventListener("click", () => this.onRefine(page));
    const bar = h("div", { class: "history-actions" }, refine, toggle, remove);
    const wrap = h("div", { class: "history-controls" }, bar, error);
    const fail = (err) => {
      error.textContent = err?.message ? `${err.message}.` : "That did not work; try again.";
      error.hidden = false;
    };
    toggle?.addEventListener("click", async () => {
      toggle.disabled = true;
      error.hidden = true;
      try {
        const updated = await setPublished(page.id, !page.is_public);
        this.fill(li, { ...page, ...updated });
        li.querySelector("[data-action=publish], [data-action=unpublish]")?.focus();
      } catch (err) {
        toggle.disabled = false;
        fail(err);
      }
    });
    remove.addEventListener("click", () => {
      // Deleting cannot be undone: ask first, in place.
      const yes = h("button", {
        type: "button",
        class: "btn btn-small btn-danger",
        "data-action": "confirm-delete",
        text: "Delete for good",
      });
      const no = h("button", { type: "button", class: "btn btn-small btn-quiet", text: "Keep" });
      const question = h(
        "div",
        { class: "history-confirm", role: "group", "aria-label": `Delete “${title}”?` },
        h("span", { text: "Delete this page? Its link stops working." }),
        yes,
        no,
      );
      bar.replaceWith(question);
      no.focus();
      no.addEventListener("click", () => {
        question.replaceWith(bar);
        remove.focus();
      });
      yes.addEventListener("click", async () => {
        yes.disabled = no.disabled = true;
        error.hidden = true;
        try {
          await deletePage(page.id);
          const next = li.nextElementSibling ?? li.previousElementSibling;
          li.remove();
          this.updateNote();
          next?.querySelector("a, button")?.focus();
        } catch (err) {
          yes.disabled = no.disabled = false;
          fail(err);
        }
      });
    });
    return wrap;
  }
}
