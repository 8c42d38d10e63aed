// The report form behind the "Report" link of every published page (`/report?page={id}`):
// one reason, optional details and contact, then a thank-you or the errors, in place.

import { ApiError, reportPage } from "./api.js";
import { byId } from "./dom.js";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_DETAILS = 2000;

const ui = {
  form: byId("report-form"),
  submit: byId("report-submit"),
  details: byId("details"),
  detailsCount: byId("details-count"),
  contact: byId("contact"),
  failure: byId("report-failure"),
  failureTitle: byId("report-failure-title"),
  failureText: byId("report-failure-text"),
  done: byId("report-done"),
  reportId: byId("report-id"),
  pageLink: byId("report-page-link"),
};

const pageId = new URLSearchParams(location.search).get("page") ?? "";

/** Shows `message` under `field` (`reason`, `details`, `contact`), or clears it. */
function fieldError(field, message) {
  const error = byId(`${field}-error`);
  error.textContent = message ?? "";
  error.hidden = !message;
  const input = field === "reason" ? byId("reasons") : byId(field);
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function failure(title, text) {
  ui.failureTitle.textContent = title;
  ui.failureText.textContent = text;
  ui.failure.hidden = false;
  ui.failure.focus();
}

function countDetails() {
  const length = [...ui.details.value].length;
  ui.detailsCount.textContent = `${length.toLocaleString("en")} / ${MAX_DETAILS.toLocaleString("en")}`;
}

async function send(event) {
  event.preventDefault();
  ui.failure.hidden = true;
  for (const field of ["reason", "details", "contact"]) fieldError(field, null);
  const reason = ui.form.elements.namedItem("reason").value;
  if (!reason) {
    fieldError("reason", "Choose what is wrong with the page.");
    ui.form.querySelector("input[name=reason]").focus();
    return;
  }
  ui.submit.disabled = true;
  ui.submit.textContent = "Sending…";
  try {
    const body = { reason };
    if (ui.details.value.trim()) body.details = ui.details.value.trim();
    if (ui.contact.value.trim()) body.contact = ui.contact.value.trim();
    const { report_id: id } = await reportPage(pageId, body);
    ui.reportId.textContent = id;
    ui.form.hidden = true;
    ui.done.hidden = false;
    ui.done.focus();
  } catch (err) {
    shown(err);
  } finally {
    ui.submit.disabled = false;
    ui.submit.textContent = "Send report";
  }
}

/** An error from the API, next to the field it is about when it names one. */
function shown(err) {
  if (!(err instanceof ApiError)) {
    failure("The report was not sent", "Something went wrong; try again.");
    return;
  }
  if (err.field && ["reason", "details", "contact"].includes(err.field)) {
    fieldError(err.field, err.message);
    (err.field === "reason" ? ui.form.querySelector("input[name=reason]") : byId(err.field)).focus();
  } else if (err.status === 404) {
    failure("This page cannot be reported", "It does not exist, or it is no longer published.");
  } else if (err.status === 429) {
    const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : "";
    failure("Too many reports from here", `Please wait a little before sending another.${wait}`);
  } else if (err.status === 0) {
    failure("The report was not sent", "The server could not be reached. Check your connection and try again.");
  } else {
    failure("The report was not sent", err.message);
  }
}

function init() {
  if (!UUID_RE.test(pageId)) {
    ui.form.hidden = true;
    ui.pageLink.removeAttribute("href");
    failure("No page to report", "Use the “Report” link at the bottom of the page you want to report.");
    return;
  }
  ui.pageLink.href = `p/${pageId}`;
  ui.form.addEventListener("submit", send);
  ui.details.addEventListener("input", () => {
    countDetails();
    fieldError("details", null);
  });
  ui.contact.addEventListener("input", () => fieldError("contact", null));
  ui.form.addEventListener("change", (event) => {
    if (event.target.name === "reason") fieldError("reason", null);
  });
  countDetails();
}

init();
