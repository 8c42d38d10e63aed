// Two small DOM helpers: no framework, and nothing that needs inline script or style.

/** The element with this id (it must exist: a missing one is a bug in index.html). */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from index.html`);
  return element;
}

/**
 * Creates an element. `attrs` become attributes (booleans toggle them; `class` and `text` are
 * shorthands); children are nodes or strings (always text, never parsed as HTML).
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.filter((child) => child != null && child !== false));
  return element;
}
