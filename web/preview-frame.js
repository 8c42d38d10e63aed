// Runs inside each preview document: a sandboxed srcdoc iframe without allow-same-origin, so it
// can reach its parent only through postMessage. The preview is double-buffered (a new
// document for every snapshot), so this script carries the reader's place from one document to
// the next: the UI passes the last position in `data-y` and whether the reader is following the
// end in `data-follow`; this script restores the position, glides on to the new end when
// following, and reports scrolling back. Links stay inside the preview.
(() => {
  const script = document.currentScript;
  const startY = Number(script?.dataset.y) || 0;
  let follow = script?.dataset.follow === "1";
  const motion = matchMedia("(prefers-reduced-motion: reduce)").matches ? "instant" : "smooth";

  // Scrolling counts as the reader's own only right after they touched a wheel, key or finger;
  // our own glides to the end must not switch following off.
  let inputAt = -Infinity;
  for (const type of ["wheel", "touchstart", "touchmove", "keydown", "mousedown"]) {
    addEventListener(type, () => (inputAt = performance.now()), { passive: true, capture: true });
  }

  const maxY = () => (document.scrollingElement || document.documentElement).scrollHeight - innerHeight;

  let queued = false;
  function report() {
    queued = false;
    if (performance.now() - inputAt < 800) follow = scrollY >= maxY() - 24;
    parent.postMessage({ type: "livepage:scroll", y: scrollY, follow }, "*");
  }
  addEventListener(
    "scroll",
    () => {
      if (!queued) requestAnimationFrame(report);
      queued = true;
    },
    { passive: true },
  );

  document.addEventListener("DOMContentLoaded", () => scrollTo({ top: startY, behavior: "instant" }));
  addEventListener("load", () => {
    scrollTo({ top: startY, behavior: "instant" });
    if (follow && maxY() > startY) scrollTo({ top: maxY(), behavior: motion });
    report();
  });

  addEventListener("message", (event) => {
    if (event.source !== parent || event.data?.type !== "livepage:scroll-to") return;
    follow = false;
    scrollTo({ top: Number(event.data.y) || 0, behavior: motion });
  });

  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (!link) return;
    event.preventDefault();
    const href = link.getAttribute("href") || "";
    if (!href.startsWith("#")) return;
    const target = href.length > 1 ? document.getElementById(decodeURIComponent(href.slice(1))) : null;
    if (target) target.scrollIntoView({ behavior: motion });
    else scrollTo({ top: 0, behavior: motion });
  });
})();
