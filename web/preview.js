// The live preview: two sandboxed iframes, one shown and one loading.
//
// Each `preview` event is a whole document. Loading it into the visible frame would flash
// blank, so it loads into the hidden one, and the two swap once it has loaded. Snapshots that
// arrive while one is loading are not queued: only the newest matters. The frames are sandboxed
// without allow-same-origin (an opaque origin: the page cannot reach the UI's cookies, storage
// or DOM); allow-scripts lets the page's stylesheet script and our own `preview-frame.js` run.

/** Longest wait for a snapshot to load before showing it anyway. */
const LOAD_TIMEOUT_MS = 5000;

export class Preview {
  /**
   * @param {HTMLElement} root holds the two iframes
   * @param {{frameScript: string, onShow?: (item: {id?: number, url?: string}) => void}} options
   */
  constructor(root, { frameScript, onShow }) {
    this.root = root;
    this.frameScript = frameScript;
    this.onShow = onShow ?? (() => {});
    [this.front, this.back] = root.querySelectorAll("iframe");
    this.pending = null;
    this.loading = null;
    /** The reader's place, as the shown frame last reported it. */
    this.y = 0;
    this.follow = true;
    addEventListener("message", (event) => {
      if (event.source !== this.front.contentWindow || event.data?.type !== "livepage:scroll") return;
      this.y = Number(event.data.y) || 0;
      this.follow = Boolean(event.data.follow);
    });
  }

  /** Shows a document (a `preview` event's html), once loaded. */
  show(html, id) {
    this.pending = { html, id };
    if (!this.loading) this.next();
  }

  /** Shows a page by URL (the published page, when no snapshot is at hand). */
  showUrl(url) {
    this.pending = { url };
    if (!this.loading) this.next();
  }

  /** Back to empty, for a new generation. */
  clear() {
    this.pending = null;
    this.loading = null;
    for (const frame of [this.front, this.back]) {
      frame.onload = null;
      frame.removeAttribute("srcdoc");
      frame.removeAttribute("data-event-id");
      frame.src = "about:blank";
    }
    this.y = 0;
    this.follow = true;
    this.root.dataset.empty = "true";
  }

  /** Glides the shown page to `y` (and stops following the end). */
  scrollTo(y) {
    this.follow = false;
    this.front.contentWindow?.postMessage({ type: "livepage:scroll-to", y }, "*");
  }

  next() {
    const item = this.pending;
    this.pending = null;
    this.loading = item;
    if (!item) return;
    const frame = this.back;
    let timer = 0;
    const loaded = () => {
      clearTimeout(timer);
      frame.onload = null;
      if (this.loading !== item) return;
      this.swap(item);
      this.next();
    };
    frame.onload = loaded;
    timer = setTimeout(loaded, LOAD_TIMEOUT_MS);
    if (item.url) {
      frame.removeAttribute("srcdoc");
      frame.src = item.url;
    } else {
      frame.srcdoc = this.withFrameScript(item.html);
    }
  }

  swap(item) {
    const [shown, hidden] = [this.back, this.front];
    const hadFocus = document.activeElement === hidden;
    shown.classList.add("is-front");
    shown.removeAttribute("tabindex");
    shown.removeAttribute("aria-hidden");
    hidden.classList.remove("is-front");
    hidden.setAttribute("tabindex", "-1");
    hidden.setAttribute("aria-hidden", "true");
    shown.dataset.eventId = item.id ?? "";
    [this.front, this.back] = [shown, hidden];
    if (item.url) {
      this.y = 0;
      this.follow = false;
    }
    if (hadFocus) shown.focus({ preventScroll: true });
    this.root.dataset.empty = "false";
    this.onShow(item);
  }

  /** The snapshot with `preview-frame.js`, told where the reader was, at the end of its head. */
  withFrameScript(html) {
    const tag =
      `<script src="${this.frameScript}" data-y="${Math.round(this.y)}" ` +
      `data-follow="${this.follow ? 1 : 0}"></script>`;
    const at = html.indexOf("</head>");
    return at === -1 ? tag + html : html.slice(0, at) + tag + html.slice(at);
  }
}
