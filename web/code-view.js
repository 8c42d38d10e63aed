// The raw streamed code: every `delta` text, appended as it arrives, lightly highlighted, and
// following the end as it grows unless the reader has scrolled up.
//
// Highlighting is a small HTML tokenizer whose state survives between deltas, so a tag split
// across two deltas is still coloured right, and nothing already on screen is ever redrawn.
// The element's textContent is always exactly the concatenated deltas.

/** Within this many pixels of the end counts as "at the end". */
const NEAR_END_PX = 48;

export class CodeView {
  /**
   * @param {HTMLElement} scroller the scrolling <pre>
   * @param {HTMLElement} code the <code> inside it
   * @param {(following: boolean) => void} onFollowChange
   */
  constructor(scroller, code, onFollowChange = () => {}) {
    this.scroller = scroller;
    this.code = code;
    this.onFollowChange = onFollowChange;
    this.tokenizer = new HtmlTokenizer();
    this.queue = [];
    this.frame = 0;
    this.following = true;
    this.lastTop = 0;
    scroller.addEventListener("scroll", () => this.scrolled(), { passive: true });
  }

  /** Appends streamed text (drawn at the next animation frame). */
  append(text) {
    this.queue.push(text);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  /** Replaces everything with `text`. */
  reset(text = "") {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.queue = [];
    this.tokenizer = new HtmlTokenizer();
    this.code.replaceChildren();
    this.setFollowing(true);
    if (text) this.append(text);
  }

  /** Draws what is queued now (also before reading the text, e.g. in tests). */
  flush() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (this.queue.length === 0) return;
    const text = this.queue.join("");
    this.queue = [];
    for (const [kind, piece] of this.tokenizer.feed(text)) this.write(kind, piece);
    if (this.following) this.toEnd();
  }

  write(kind, text) {
    const last = this.code.lastChild;
    if (kind === "") {
      if (last?.nodeType === Node.TEXT_NODE) last.appendData(text);
      else this.code.append(text);
      return;
    }
    if (last?.nodeType === Node.ELEMENT_NODE && last.className === kind) {
      last.firstChild.appendData(text);
      return;
    }
    const span = document.createElement("span");
    span.className = kind;
    span.textContent = text;
    this.code.append(span);
  }

  /** Scrolls to the end and follows it again. */
  follow() {
    this.setFollowing(true);
    this.toEnd();
  }

  toEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.lastTop = this.scroller.scrollTop;
  }

  scrolled() {
    const el = this.scroller;
    if (el.clientHeight === 0) return; // hidden: nothing the reader did
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight <= NEAR_END_PX;
    // Only a move up (the reader's own) stops following; reaching the end starts it again.
    if (atEnd) this.setFollowing(true);
    else if (el.scrollTop < this.lastTop) this.setFollowing(false);
    this.lastTop = el.scrollTop;
  }

  setFollowing(following) {
    if (following === this.following) return;
    this.following = following;
    this.onFollowChange(following);
  }
}

/**
 * Splits HTML into pieces tagged with a highlight class ("" for plain text), keeping its state
 * between calls. Forgiving by design: it colours, it does not validate.
 */
export class HtmlTokenizer {
  constructor() {
    this.mode = "text";
    this.bang = ""; // the start of a <!…> construct, to tell a comment from a doctype
    this.tail = ""; // its last two characters, to find a comment's end
  }

  /** @returns {Array<[string, string]>} */
  feed(text) {
    const out = [];
    const emit = (kind, ch) => {
      const last = out[out.length - 1];
      if (last && last[0] === kind) last[1] += ch;
      else out.push([kind, ch]);
    };
    for (const ch of text) {
      switch (this.mode) {
        case "text":
          if (ch === "<") {
            this.mode = "open";
            emit("tk-p", ch);
          } else emit("", ch);
          break;
        case "open":
          if (ch === "/") emit("tk-p", ch);
          else if (ch === "!") {
            this.mode = "bang";
            this.bang = "!";
            this.tail = "!";
            emit("tk-c", ch);
          } else if (/[A-Za-z]/.test(ch)) {
            this.mode = "name";
            emit("tk-t", ch);
          } else {
            this.mode = "text";
            emit("", ch);
          }
          break;
        case "name":
          if (/[\w:.-]/.test(ch)) emit("tk-t", ch);
          else this.inTag(ch, emit);
          break;
        case "attr":
          if (/[^\s"'=<>/`]/.test(ch)) emit("tk-a", ch);
          else this.inTag(ch, emit);
          break;
        case "tag":
          this.inTag(ch, emit);
          break;
        case "eq":
          if (ch === '"' || ch === "'") {
            this.mode = ch === '"' ? "dq" : "sq";
            emit("tk-v", ch);
          } else if (/\s/.test(ch)) emit("", ch);
          else if (ch === ">") this.close(ch, emit);
          else {
            this.mode = "uq";
            emit("tk-v", ch);
          }
          break;
        case "dq":
        case "sq":
          emit("tk-v", ch);
          if (ch === (this.mode === "dq" ? '"' : "'")) this.mode = "tag";
          break;
        case "uq":
          if (/\s/.test(ch)) {
            this.mode = "tag";
            emit("", ch);
          } else if (ch === ">") this.close(ch, emit);
          else emit("tk-v", ch);
          break;
        case "bang":
          emit("tk-c", ch);
          if (this.bang.length < 3) this.bang += ch;
          // A comment ends at "-->", a doctype at the first ">".
          if (ch === ">" && (this.bang !== "!--" || this.tail === "--")) this.mode = "text";
          this.tail = (this.tail + ch).slice(-2);
          break;
        default:
          this.mode = "text";
          emit("", ch);
      }
    }
    return out;
  }

  inTag(ch, emit) {
    if (ch === ">") this.close(ch, emit);
    else if (ch === "/") {
      this.mode = "tag";
      emit("tk-p", ch);
    } else if (ch === "=") {
      this.mode = "eq";
      emit("tk-p", ch);
    } else if (/\s/.test(ch)) {
      this.mode = "tag";
      emit("", ch);
    } else if (ch === '"' || ch === "'") {
      this.mode = ch === '"' ? "dq" : "sq";
      emit("tk-v", ch);
    } else {
      this.mode = "attr";
      emit("tk-a", ch);
    }
  }

  close(ch, emit) {
    this.mode = "text";
    emit("tk-p", ch);
  }
}
