// The LivePage web UI: a form built from GET /api/options, one generation followed live, and
// the pages made in this browser (its owner key, see api.js), which their owner may unpublish,
// publish again or delete. A published page can be refined (a follow-up prompt, applied live:
// a refine is followed exactly like a generation), and any of its versions shown, restored or
// downloaded.
//
// The generation on screen is `run`, a plain object that events update and `render()` draws
// (at most once per animation frame). `run` is also kept in sessionStorage and its id in the
// URL (`?g=…`), so a reload resumes from the last event it had seen: no text lost, none twice.

import {
  ApiError,
  cancelGeneration,
  getGeneration,
  getOptions,
  getVersions,
  postRefine,
  restoreVersion,
} from "./api.js";
import { CodeView } from "./code-view.js";
import { byId, h } from "./dom.js";
import { formatCount, formatDuration, label } from "./format.js";
import { GenerationStream } from "./generation.js";
import { HistoryList } from "./history.js";
import { Preview } from "./preview.js";

const EMAIL_KEY = "livepage.email";
const RUN_KEY = "livepage.run";
const SAVE_EVERY_MS = 1000;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const ui = {
  app: byId("app"),
  demoBanner: byId("demo-banner"),
  loadError: byId("load-error"),
  loadErrorText: byId("load-error-text"),
  loadRetry: byId("load-retry"),
  form: byId("generate-form"),
  prompt: byId("prompt"),
  promptCount: byId("prompt-count"),
  pageTypes: byId("page-types"),
  pageTypeDescription: byId("page-type-description"),
  themes: byId("themes"),
  themeDescription: byId("theme-description"),
  modelField: byId("model-field"),
  model: byId("model"),
  email: byId("email"),
  generate: byId("generate"),
  generateLabel: byId("generate-label"),
  stageLabel: byId("stage-label"),
  percent: byId("percent"),
  progress: byId("progress"),
  tokens: byId("tokens"),
  elapsed: byId("elapsed"),
  cancel: byId("cancel"),
  cancelLabel: byId("cancel-label"),
  status: byId("status"),
  result: byId("result"),
  resultPage: byId("result-page"),
  liveUrl: byId("live-url"),
  openLive: byId("open-live"),
  copyLive: byId("copy-live"),
  newPage: byId("new-page"),
  failure: byId("failure"),
  failureTitle: byId("failure-title"),
  failureText: byId("failure-text"),
  retry: byId("retry"),
  dismiss: byId("dismiss"),
  address: byId("address"),
  tabPreview: byId("tab-preview"),
  tabCode: byId("tab-code"),
  panelPreview: byId("panel-preview"),
  panelCode: byId("panel-code"),
  follow: byId("follow"),
  refine: byId("refine"),
  refineForm: byId("refine-form"),
  refinePrompt: byId("refine-prompt"),
  refineSubmit: byId("refine-submit"),
  refineError: byId("refine-error"),
  versions: byId("versions"),
  restore: byId("restore"),
  download: byId("download"),
  versionNote: byId("version-note"),
};

const preview = new Preview(ui.panelPreview, {
  frameScript: new URL("assets/preview-frame.js", document.baseURI).href,
});
const code = new CodeView(byId("code-scroll"), byId("code"), (following) => {
  ui.follow.hidden = following;
});
const pages = new HistoryList(
  {
    list: byId("history-list"),
    note: byId("history-note"),
    more: byId("history-more"),
  },
  (page) => openPage(page),
);

/** @type {null | {page_types: any[], themes: any[], models: string[], default_model: string, demo_mode: boolean, max_prompt_chars: number}} */
let options = null;
let optionsReady = null;
/** The generation on screen (see `newRun`), or null. */
let run = null;
/** The stream following `run`; events from any other (an older one) are ignored. */
let stream = null;
/**
 * The versions of the page on screen: `{pageId, current, list}` (list oldest first), and the
 * one shown in the preview (`shown`, a number; the current one unless another was picked).
 */
let versions = null;

// ---------------------------------------------------------------------------------------------
// The generation's state

function newRun(request, id = null) {
  return {
    request, // what was asked, for Retry
    id,
    lastId: 0,
    status: "running", // running | completed | error | cancelled
    connection: "open", // open | reconnecting
    stage: null,
    queuePosition: null,
    attempt: null,
    segment: null,
    percent: 0,
    tokens: 0,
    deltas: 0,
    elapsedMs: 0,
    elapsedAt: performance.now(),
    raw: "",
    previewHtml: null,
    previewId: 0,
    result: null,
    error: null,
    cancelling: false,
  };
}

function onEvent(type, data, id) {
  const r = run;
  r.lastId = id;
  r.connection = "open";
  // Cancel disappears at the end: whoever had it focused goes on to what comes next.
  const cancelFocused = document.activeElement === ui.cancel;
  switch (type) {
    case "started":
      r.id = data.generation_id;
      setUrl(r.id);
      break;
    case "progress":
      r.stage = data.stage;
      r.percent = Math.max(r.percent, Number(data.percent) || 0);
      r.tokens = Math.max(r.tokens, Number(data.tokens) || 0);
      r.elapsedMs = Number(data.elapsed_ms) || r.elapsedMs;
      r.elapsedAt = performance.now();
      r.queuePosition = data.queue_position ?? null;
      r.attempt = data.attempt ?? null;
      r.segment = data.segment ?? null;
      r.edits = data.edits ?? r.edits ?? 0;
      break;
    case "delta":
      r.raw += data.text;
      r.deltas += 1;
      code.append(data.text);
      break;
    case "preview":
      r.previewHtml = data.html;
      r.previewId = id;
      preview.show(data.html, id);
      break;
    case "completed":
      r.status = "completed";
      r.result = data;
      r.percent = 100;
      r.elapsedMs = Number(data.duration_ms) || r.elapsedMs;
      r.tokens = data.usage?.completion_tokens || Math.max(r.tokens, r.deltas);
      code.flush();
      if (!r.previewHtml) preview.showUrl(data.live_url);
      // The last snapshot was written from the end: show the page from its top again.
      else if (preview.follow) setTimeout(() => preview.scrollTo(0), 600);
      announce(
        data.version > 1
          ? `Version ${data.version} of your page is live.`
          : `Your page${data.title ? ` “${data.title}”` : ""} is live.`,
      );
      pages.load();
      if (data.page_id) loadVersions(data.page_id);
      break;
    case "error":
      r.status = data.code === "cancelled" ? "cancelled" : "error";
      r.error = data;
      r.cancelling = false;
      code.flush();
      announce(r.status === "cancelled" ? "Cancelled. Nothing was saved." : failureText(data));
      // A refine that saved nothing: back to the page as it is.
      if (r.request?.refinePageId && versions?.pageId === r.request.refinePageId) {
        const live = versions.list.find((v) => v.version === versions.current);
        if (live) preview.showUrl(live.url);
      }
      break;
    default:
      break;
  }
  if (cancelFocused && r.status !== "running") {
    render();
    (r.status === "completed" ? ui.openLive : ui.retry).focus();
  }
  scheduleRender();
  scheduleSave();
}

function onConnection(state, detail) {
  if (state === "reconnecting") {
    if (run.connection !== "reconnecting") announce("Connection lost. Reconnecting…");
    run.connection = "reconnecting";
    run.retryAt = performance.now() + (detail?.delayMs ?? 0);
  } else {
    run.connection = "open";
  }
  scheduleRender();
}

/** The stream gave up (the request was refused, or the connection is gone for good). */
function onFailure(err) {
  const error = err instanceof ApiError ? err : new ApiError(0, { message: String(err?.message ?? err) });
  // Refused before it started, because of what was typed: say so at the field.
  if (!run.id && error.field && showFieldError(error.field, error.message)) {
    run = null;
    clearSnapshot();
    scheduleRender();
    return;
  }
  run.status = "error";
  run.error = {
    code: error.code,
    message: error.message,
    retryable: error.transient || error.code === "connection_lost",
    retryAfter: error.retryAfter,
  };
  code.flush();
  announce(failureText(run.error));
  scheduleRender();
  scheduleSave();
}

/** Follows `run` with a new stream; `begin` starts or resumes it. */
function follow(begin) {
  stream?.close();
  const mine = new GenerationStream({
    event: (...args) => mine === stream && onEvent(...args),
    connection: (...args) => mine === stream && onConnection(...args),
  });
  stream = mine;
  begin(mine).catch((err) => {
    if (mine === stream && err?.name !== "AbortError") onFailure(err);
  });
}

function start(request) {
  if (request.refinePageId) {
    startRefine(request);
    return;
  }
  remember(request.email);
  run = newRun(request);
  setUrl(null);
  clearViews();
  announce("Starting your page.");
  render();
  follow((s) => s.start({ ...request, preview: true }));
  // On a narrow screen the stage is below the form: bring it into view.
  const stage = ui.progress.closest(".stage");
  if (stage.getBoundingClientRect().top > innerHeight * 0.5) {
    const motion = matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
    stage.scrollIntoView({ behavior: motion, block: "start" });
  }
}

/**
 * Refines page `request.refinePageId` with `request.prompt`: followed like a generation (the
 * URL names the refine, so a reload resumes it), the preview going on from the page as it is
 * until the first edit lands.
 */
function startRefine(request) {
  const pageId = request.refinePageId;
  run = newRun(request);
  setUrl(null);
  code.reset();
  ui.follow.hidden = true;
  if (versions?.pageId === pageId) versions.shown = versions.current;
  announce("Applying your change.");
  render();
  const body = { prompt: request.prompt, preview: true };
  if (request.model) body.model = request.model;
  follow((s) => s.start(body, (b, o) => postRefine(pageId, b, o)));
}

/**
 * Puts one of this browser's pages (from "Your pages") on screen to refine it: shown at its
 * live URL, its versions in the switcher, as if it had just been published here.
 */
function openPage(page) {
  if (run?.status === "running") return;
  stream?.close();
  stream = null;
  clearSnapshot();
  setUrl(null);
  clearViews();
  run = newRun(null);
  run.status = "completed";
  run.percent = 100;
  run.result = { page_id: page.id, live_url: page.live_url, title: page.title, version: null };
  preview.showUrl(page.live_url);
  render();
  loadVersions(page.id);
  ui.refinePrompt.focus();
}

/** The page on screen: the one published, or the one being refined. */
function pageOnScreen() {
  return run?.result?.page_id ?? run?.request?.refinePageId ?? null;
}

/** Loads the versions of page `pageId` and shows the current one as chosen. */
async function loadVersions(pageId) {
  try {
    const listed = await getVersions(pageId);
    if (pageOnScreen() !== pageId) return;
    versions = {
      pageId,
      current: listed.current,
      shown: listed.current,
      list: [...listed.versions].reverse(),
    };
  } catch {
    // The switcher stays as it was; the page itself is on screen either way.
  }
  renderVersions();
}

/** Shows version `n` of the page on screen in the preview. */
function showVersion(n) {
  const version = versions?.list.find((v) => v.version === n);
  if (!version || run?.status === "running") return;
  versions.shown = n;
  preview.showUrl(version.url);
  announce(n === versions.current ? `Showing version ${n}, the live one.` : `Showing version ${n}.`);
  renderVersions();
}

async function restoreShown() {
  if (!versions || versions.shown === versions.current || run?.status === "running") return;
  const { pageId, shown } = versions;
  ui.restore.setAttribute("aria-disabled", "true");
  try {
    const restored = await restoreVersion(pageId, shown);
    await loadVersions(pageId);
    if (versions?.pageId === pageId) showVersion(restored.version);
    announce(`Version ${shown} restored as version ${restored.version}, now live.`);
  } catch (err) {
    ui.versionNote.textContent = failureText(err instanceof ApiError ? err : { message: String(err) });
  } finally {
    ui.restore.removeAttribute("aria-disabled");
  }
}

/** Picks up generation `id` after a reload, from the snapshot when this tab has one. */
function resume(id, snapshot) {
  run = snapshot ?? newRun(null, id);
  run.elapsedAt = performance.now();
  clearViews();
  if (snapshot) {
    code.reset(run.raw);
    if (run.previewHtml) preview.show(run.previewHtml, run.previewId);
    else if (run.result) preview.showUrl(run.result.live_url);
  }
  render();
  if (!run.request) recallRequest(id);
  if (run.status === "running") follow((s) => s.resume(id, run.lastId));
  else if (run.result?.page_id) loadVersions(run.result.page_id);
}

/**
 * Fills the form with what generation `id` asked for (a link opened in another tab). Not the
 * email: the link may have been shared, and the person opening it keeps their own.
 */
async function recallRequest(id) {
  try {
    const status = await getGeneration(id);
    const request = {
      prompt: status.prompt,
      page_type: status.page_type,
      theme: status.theme,
      model: status.model,
    };
    if (run?.id !== id) return;
    if (status.refines) {
      // A refine: its prompt is the change, not what the page is about.
      run.request = { prompt: status.prompt, refinePageId: status.refines };
      scheduleRender();
      return;
    }
    run.request = request;
    await optionsReady;
    if (!ui.prompt.value.trim()) fillForm(request);
  } catch {
    // The form stays as it is; the stream reports a generation that does not exist.
  }
}

function retry() {
  if (!run) return;
  if (run.error?.code === "connection_lost" && run.id) {
    run.status = "running";
    run.error = null;
    render();
    follow((s) => s.resume(run.id, run.lastId));
    return;
  }
  if (run.request?.refinePageId) {
    startRefine({ ...run.request });
    return;
  }
  const request = { ...(run.request ?? readForm()) };
  request.email ||= ui.email.value.trim();
  if (validate(request)) start(request);
}

async function cancel() {
  if (!run?.id || run.status !== "running" || run.cancelling) return;
  run.cancelling = true;
  render();
  try {
    await cancelGeneration(run.id);
  } catch (err) {
    // 409: it finished first; its terminal event is on its way.
    if (err.status !== 409) {
      run.cancelling = false;
      announce("The page could not be cancelled. Try again.");
      render();
    }
  }
}

function reset() {
  stream?.close();
  stream = null;
  run = null;
  versions = null;
  clearSnapshot();
  setUrl(null);
  clearViews();
  render();
  ui.prompt.focus();
}

// ---------------------------------------------------------------------------------------------
// Drawing

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  // A background tab gets no animation frames, but its title still shows the progress.
  if (document.hidden) setTimeout(render, 250);
  else requestAnimationFrame(render);
}

function render() {
  renderQueued = false;
  const r = run;
  const status = r ? r.status : "idle";
  ui.app.dataset.state = status;
  ui.app.dataset.connection = r?.connection ?? "open";
  const running = status === "running";

  // Not `disabled`: that would drop the keyboard focus of whoever just pressed it.
  ui.generate.setAttribute("aria-disabled", String(running || !options));
  ui.generateLabel.textContent = running ? "Generating…" : "Generate page";
  ui.generate.setAttribute("aria-busy", String(running));

  const percent = r ? Math.round(r.percent) : 0;
  ui.stageLabel.textContent = stageText(r);
  ui.percent.textContent = `${percent}%`;
  ui.progress.style.setProperty("--value", String(percent / 100));
  ui.progress.setAttribute("aria-valuenow", String(percent));
  ui.progress.setAttribute("aria-valuetext", `${stageText(r)}, ${percent}%`);
  ui.tokens.textContent = formatCount(r ? Math.max(r.tokens, r.deltas) : 0);
  renderClock();

  ui.cancel.hidden = !running || !r.id;
  ui.cancel.setAttribute("aria-disabled", String(Boolean(r?.cancelling)));
  ui.cancelLabel.textContent = r?.cancelling ? "Cancelling…" : "Cancel";

  const done = status === "completed" ? r.result : null;
  ui.result.hidden = !done;
  byId("result-title").textContent =
    done?.version > 1 ? `Version ${done.version} is live` : "Your page is live";
  if (done) {
    ui.liveUrl.href = ui.openLive.href = done.live_url;
    ui.liveUrl.textContent = done.live_url;
    ui.resultPage.replaceChildren(h("strong", { text: done.title || "Untitled page" }));
    if (done.fallback) ui.resultPage.append(h("span", { class: "badge", text: "fallback page" }));
  }

  const failed = status === "error" || status === "cancelled" ? r.error : null;
  ui.failure.hidden = !failed;
  if (failed) {
    const cancelled = status === "cancelled";
    ui.failure.dataset.kind = cancelled ? "cancelled" : "error";
    ui.failureTitle.textContent = cancelled
      ? "Cancelled"
      : r.id
        ? "The page could not be finished"
        : "The page could not be started";
    ui.failureText.textContent = failureText(failed);
    const resumable = failed.code === "connection_lost" && r.id;
    ui.retry.textContent = cancelled ? "Start again" : resumable ? "Reconnect" : "Try again";
    ui.retry.hidden = !cancelled && failed.retryable === false && !r.request;
  }

  renderRefine(r);

  ui.address.textContent = done
    ? done.live_url.replace(/^https?:\/\//, "")
    : running
      ? "Not published yet"
      : "Preview";
  document.title = running
    ? `${percent}% · ${stageText(r)} · LivePage`
    : done
      ? `Live: ${done.title || "your page"} · LivePage`
      : "LivePage";
}

/** The refine box and the version switcher, under the preview of a published page. */
function renderRefine(r) {
  const pageId = pageOnScreen();
  ui.refine.hidden = !pageId;
  if (!pageId) return;
  const running = r.status === "running";
  ui.refineSubmit.setAttribute("aria-disabled", String(running));
  ui.refineSubmit.textContent = running && r.request?.refinePageId ? "Applying…" : "Apply";
  ui.refine.dataset.busy = String(running);
  renderVersions();
}

function renderVersions() {
  const pageId = pageOnScreen();
  const mine = versions?.pageId === pageId ? versions : null;
  const running = run?.status === "running";
  // Rebuilt only when what it shows changes, so that a focused button keeps the focus.
  const signature = JSON.stringify([mine?.list.map((v) => v.version), mine?.shown, mine?.current, running]);
  if (ui.versions.dataset.signature !== signature) {
    ui.versions.dataset.signature = signature;
    const focused = document.activeElement?.dataset?.version;
    ui.versions.replaceChildren(
      ...(mine?.list ?? []).map((v) =>
        h("button", {
          type: "button",
          class: "version",
          "data-version": String(v.version),
          "aria-pressed": String(v.version === mine.shown),
          "aria-disabled": String(running),
          title: versionTitle(v, mine.current),
          text: `v${v.version}`,
        }),
      ),
    );
    if (focused) ui.versions.querySelector(`[data-version="${focused}"]`)?.focus();
  }
  ui.versions.dataset.current = String(mine?.current ?? "");
  ui.restore.hidden = !mine || mine.shown === mine.current || running;
  ui.restore.textContent = mine ? `Restore v${mine.shown}` : "Restore this version";
  const shown = mine?.list.find((v) => v.version === mine.shown);
  const url = shown?.url ?? run?.result?.live_url;
  ui.download.hidden = !url;
  if (url) ui.download.href = `${url}/download`;
  ui.versionNote.textContent = !mine
    ? ""
    : mine.shown === mine.current
      ? `Showing v${mine.current}, the live version.`
      : `Showing v${mine.shown}; v${mine.current} is live.`;
}

function versionTitle(version, current) {
  const what =
    version.kind === "restored"
      ? `restored from v${version.restored_from}`
      : version.kind === "created"
        ? "the first version"
        : version.prompt;
  return `v${version.version}${version.version === current ? " (live)" : ""}: ${what}`;
}

function renderClock() {
  const r = run;
  if (!r) {
    ui.elapsed.textContent = formatDuration(0);
    return;
  }
  const live = r.status === "running" && r.stage !== null;
  ui.elapsed.textContent = formatDuration(r.elapsedMs + (live ? performance.now() - r.elapsedAt : 0));
  if (r.status === "running" && r.connection === "reconnecting") {
    ui.stageLabel.textContent = stageText(r);
  }
}

function stageText(r) {
  if (!r) return "Ready when you are";
  if (r.status === "completed") return "Published";
  if (r.status === "cancelled") return "Cancelled";
  if (r.status === "error") return r.id ? "Stopped" : "Not started";
  if (r.connection === "reconnecting") {
    const seconds = Math.ceil(Math.max(0, (r.retryAt ?? 0) - performance.now()) / 1000);
    return seconds > 0 ? `Connection lost · retrying in ${seconds} s` : "Reconnecting…";
  }
  switch (r.stage) {
    case "queued":
      return r.queuePosition ? `Waiting for a free model (${r.queuePosition} ahead)` : "Waiting for a free model";
    case "connecting":
      return r.attempt > 1 ? `Connecting to the model (attempt ${r.attempt})` : "Connecting to the model";
    case "generating":
      if (r.request?.refinePageId) {
        return r.edits ? `Applying your change (${r.edits} edit${r.edits === 1 ? "" : "s"})` : "Applying your change";
      }
      return "Writing the page";
    case "continuing":
      // The model stopped at its length limit and is asked for the rest.
      return r.segment ? `Continuing the page (part ${r.segment})` : "Continuing the page";
    case "sanitizing":
      return "Cleaning up the markup";
    case "saving":
      return "Publishing";
    default:
      return "Starting";
  }
}

const FAILURES = {
  upstream_unavailable: "The model could not be reached. Please try again in a moment.",
  upstream_rejected: "The model provider refused the request.",
  upstream_error: "The model reported an error while writing the page.",
  upstream_disconnected: "The connection to the model dropped while it was writing.",
  upstream_protocol: "The model sent something LivePage did not understand.",
  upstream_timeout: "The model took too long to start writing.",
  upstream_stalled: "The model stopped writing part-way through.",
  truncated: "The page grew longer than the model may write, even when asked to continue, so it was cut off. A shorter brief may help.",
  empty_output: "The model finished without writing anything.",
  generation_timeout: "The page took too long to write.",
  storage_unavailable: "The page was written but could not be saved.",
  cancelled: "You stopped this page before it was finished. Nothing was saved.",
  shutdown: "The server restarted before the page was finished.",
  instance_lost: "The server writing this page stopped before it was finished. Nothing was saved: please try again.",
  stream_unavailable: "The live stream is briefly unavailable on this server. Reconnect to pick it up where you left it.",
  internal: "Something went wrong on LivePage's side.",
  edit_failed: "The change could not be applied to the page. Nothing was saved: try again, or put it another way.",
  page_changed: "The page got a new version while this change was being made. Nothing was saved: try again.",
  conflict: "This page cannot be changed right now (it is being refined, or it was taken down).",
  queue_full: "LivePage is very busy right now. Please try again in a few seconds.",
  overloaded: "LivePage is serving as many pages as it can right now. Please try again in a few seconds.",
  shutting_down: "LivePage is restarting. Please try again in a moment.",
  network: "LivePage's server could not be reached. Check your connection and try again.",
  connection_lost: "The connection to LivePage was lost. The page is still being written on the server: reconnect to pick it up where you left it.",
  not_found: "This generation no longer exists.",
};

function failureText(error) {
  if (error.code === "rate_limited") {
    const wait = error.retryAfter ? `${error.retryAfter} seconds` : "a minute";
    return `You have made several pages in a short time. Please wait ${wait} and try again.`;
  }
  return FAILURES[error.code] ?? error.message ?? "Something went wrong.";
}

function clearViews() {
  code.reset();
  preview.clear();
  ui.follow.hidden = true;
}

let lastAnnounced = "";
function announce(text) {
  if (text === lastAnnounced) return;
  lastAnnounced = text;
  ui.status.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Where the generation is kept: the URL and this tab's sessionStorage

function setUrl(id) {
  const url = new URL(location.href);
  if (id) url.searchParams.set("g", id);
  else url.searchParams.delete("g");
  if (url.href !== location.href) history.replaceState(null, "", url);
}

let saveTimer = 0;
function scheduleSave() {
  if (!saveTimer) saveTimer = setTimeout(save, SAVE_EVERY_MS);
}

function save() {
  clearTimeout(saveTimer);
  saveTimer = 0;
  if (!run?.id) return;
  const { retryAt: _, cancelling: __, ...kept } = run;
  try {
    sessionStorage.setItem(RUN_KEY, JSON.stringify({ ...kept, connection: "open" }));
  } catch {
    // Storage full or off: a reload then replays the generation from its first event.
    clearSnapshot();
  }
}

function loadSnapshot(id) {
  try {
    const snapshot = JSON.parse(sessionStorage.getItem(RUN_KEY) ?? "null");
    if (snapshot?.id === id && Number.isSafeInteger(snapshot.lastId) && typeof snapshot.raw === "string") {
      return snapshot;
    }
  } catch {
    // Unreadable: start from the first event.
  }
  return null;
}

function clearSnapshot() {
  try {
    sessionStorage.removeItem(RUN_KEY);
  } catch {
    // Nothing to clear.
  }
}

function remember(email) {
  try {
    localStorage.setItem(EMAIL_KEY, email);
  } catch {
    // Private mode: the email is simply not remembered.
  }
}

function rememberedEmail() {
  try {
    return localStorage.getItem(EMAIL_KEY) ?? "";
  } catch {
    return "";
  }
}

// ---------------------------------------------------------------------------------------------
// The form

async function loadOptions() {
  ui.loadError.hidden = true;
  try {
    options = await getOptions();
  } catch {
    ui.loadErrorText.textContent = "LivePage's server could not be reached, so the form cannot be shown yet.";
    ui.loadError.hidden = false;
    return;
  }
  buildForm(options);
  render();
}

function buildForm(opts) {
  const chosen = readChoice("page_type") ?? opts.default_page_type;
  const theme = readChoice("theme") ?? opts.default_theme;
  ui.pageTypes.replaceChildren(...opts.page_types.map((c) => chip("page_type", c, chosen, false)));
  ui.themes.replaceChildren(...opts.themes.map((c) => chip("theme", c, theme, true)));
  ui.model.replaceChildren(
    ...opts.models.map((m) => h("option", { value: m, selected: m === opts.default_model, text: m })),
  );
  ui.modelField.hidden = opts.models.length < 2;
  ui.demoBanner.hidden = !opts.demo_mode;
  describeChoices();
  countPrompt();
}

function chip(name, choice, selected, swatch) {
  const id = `${name}-${choice.name}`;
  return h(
    "label",
    { class: "chip", for: id, title: choice.description },
    h("input", {
      type: "radio",
      name,
      id,
      value: choice.name,
      checked: choice.name === selected,
      "aria-describedby": name === "theme" ? "theme-description" : "page-type-description",
    }),
    swatch ? h("span", { class: "swatch", "data-theme": choice.name, "aria-hidden": "true" }) : null,
    h("span", { text: label(choice.name) }),
  );
}

function readChoice(name) {
  return ui.form.querySelector(`input[name="${name}"]:checked`)?.value ?? null;
}

function describeChoices() {
  if (!options) return;
  const describe = (list, name) => {
    const description = list.find((c) => c.name === readChoice(name))?.description ?? "";
    return description.charAt(0).toUpperCase() + description.slice(1) + (description ? "." : "");
  };
  ui.pageTypeDescription.textContent = describe(options.page_types, "page_type");
  ui.themeDescription.textContent = describe(options.themes, "theme");
}

function countPrompt() {
  const max = options?.max_prompt_chars ?? 4000;
  const length = [...ui.prompt.value.trim()].length;
  ui.promptCount.textContent = `${formatCount(length)} / ${formatCount(max)}`;
  ui.promptCount.classList.toggle("over", length > max);
}

function readForm() {
  const request = {
    email: ui.email.value.trim(),
    prompt: ui.prompt.value.trim(),
    page_type: readChoice("page_type") ?? undefined,
    theme: readChoice("theme") ?? undefined,
  };
  if (options && options.models.length > 1) request.model = ui.model.value;
  return request;
}

function fillForm(request) {
  ui.prompt.value = request.prompt ?? "";
  for (const name of ["page_type", "theme"]) {
    const input = ui.form.querySelector(`input[name="${name}"][value="${CSS.escape(request[name] ?? "")}"]`);
    if (input) input.checked = true;
  }
  if (request.model && options?.models.includes(request.model)) ui.model.value = request.model;
  describeChoices();
  countPrompt();
}

function validate(request) {
  clearFieldErrors();
  const max = options?.max_prompt_chars ?? 4000;
  const length = [...request.prompt].length;
  const problems = [];
  if (!request.prompt) problems.push(["prompt", "Describe the page you would like."]);
  else if (length > max) problems.push(["prompt", `Please keep it to ${formatCount(max)} characters (it has ${formatCount(length)}).`]);
  if (!request.email) problems.push(["email", "Enter your email."]);
  else if (!EMAIL_RE.test(request.email)) problems.push(["email", "This does not look like an email address."]);
  for (const [field, message] of problems) showFieldError(field, message);
  if (problems.length) byId(problems[0][0]).focus();
  return problems.length === 0;
}

/** Shows `message` at a field of the form; false when there is no such field. */
function showFieldError(field, message) {
  const input = document.getElementById(field);
  const slot = document.getElementById(`${field}-error`);
  if (!input || !slot) return false;
  slot.textContent = message;
  slot.hidden = false;
  input.setAttribute("aria-invalid", "true");
  input.focus();
  return true;
}

function clearFieldErrors() {
  for (const field of ["prompt", "email"]) {
    byId(`${field}-error`).hidden = true;
    byId(field).removeAttribute("aria-invalid");
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring

function selectTab(tab) {
  const showCode = tab === ui.tabCode;
  for (const [button, panel, selected] of [
    [ui.tabPreview, ui.panelPreview, !showCode],
    [ui.tabCode, ui.panelCode, showCode],
  ]) {
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    panel.hidden = !selected;
  }
  if (showCode) {
    code.flush();
    if (code.following) code.toEnd();
  }
}

async function copyLink() {
  const url = run?.result?.live_url;
  if (!url) return;
  let copied = false;
  try {
    await navigator.clipboard.writeText(url);
    copied = true;
  } catch {
    // No async clipboard (a plain-HTTP origin): copy the selected link text instead.
    const range = document.createRange();
    range.selectNodeContents(ui.liveUrl);
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    copied = document.execCommand("copy");
  }
  ui.copyLive.textContent = copied ? "Copied" : "Press Ctrl+C to copy";
  announce(copied ? "Link copied." : "Select the link and copy it.");
  setTimeout(() => (ui.copyLive.textContent = "Copy link"), 2000);
}

function bind() {
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (run?.status === "running" || !options) return;
    const request = readForm();
    if (validate(request)) start(request);
  });
  ui.prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      ui.form.requestSubmit();
    }
  });
  ui.prompt.addEventListener("input", () => {
    countPrompt();
    byId("prompt-error").hidden = true;
    ui.prompt.removeAttribute("aria-invalid");
  });
  ui.form.addEventListener("change", (event) => {
    if (event.target.type === "radio") describeChoices();
  });
  for (const example of document.querySelectorAll(".example")) {
    example.addEventListener("click", () => {
      fillForm({ ...example.dataset });
      ui.prompt.focus();
    });
  }
  ui.email.addEventListener("input", () => {
    byId("email-error").hidden = true;
    ui.email.removeAttribute("aria-invalid");
  });

  ui.refineForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const pageId = pageOnScreen();
    const change = ui.refinePrompt.value.trim();
    if (!pageId || run?.status === "running") return;
    if (!change) {
      ui.refineError.textContent = "Say what should change.";
      ui.refineError.hidden = false;
      ui.refinePrompt.setAttribute("aria-invalid", "true");
      ui.refinePrompt.focus();
      return;
    }
    ui.refineError.hidden = true;
    ui.refinePrompt.removeAttribute("aria-invalid");
    ui.refinePrompt.value = "";
    startRefine({ prompt: change, refinePageId: pageId });
  });
  ui.refinePrompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      ui.refineForm.requestSubmit();
    }
  });
  ui.versions.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-version]");
    if (button) showVersion(Number(button.dataset.version));
  });
  ui.restore.addEventListener("click", restoreShown);
  ui.cancel.addEventListener("click", cancel);
  ui.retry.addEventListener("click", retry);
  ui.dismiss.addEventListener("click", reset);
  ui.newPage.addEventListener("click", reset);
  ui.copyLive.addEventListener("click", copyLink);
  ui.loadRetry.addEventListener("click", () => {
    optionsReady = loadOptions();
  });
  ui.follow.addEventListener("click", () => code.follow());

  for (const tab of [ui.tabPreview, ui.tabCode]) tab.addEventListener("click", () => selectTab(tab));
  ui.tabPreview.parentElement.addEventListener("keydown", (event) => {
    const tabs = [ui.tabPreview, ui.tabCode];
    const at = tabs.indexOf(document.activeElement);
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (at === -1 || to === undefined) return;
    event.preventDefault();
    const next = tabs[(to + tabs.length) % tabs.length];
    selectTab(next);
    next.focus();
  });

  // Back online: reconnect now rather than at the end of the back-off.
  addEventListener("online", () => stream?.retryNow());
  // Leaving (a reload, a closed tab): keep exactly what has been seen.
  addEventListener("pagehide", save);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) save();
    render();
  });
  setInterval(() => run?.status === "running" && renderClock(), 200);
}

function init() {
  bind();
  ui.email.value = rememberedEmail();
  optionsReady = loadOptions();
  const id = new URLSearchParams(location.search).get("g");
  if (id && UUID_RE.test(id)) resume(id, loadSnapshot(id));
  else {
    clearSnapshot();
    setUrl(null);
    render();
  }
  pages.load();
}

init();
