// Which classes a stylesheet styles, and which classes a page uses.

import postcss from 'postcss';
import selectorParser from 'postcss-selector-parser';
import { decodeEntities } from './page.mjs';

/**
 * Classes that only mark an element for other selectors (`group-hover:…`, `peer-checked:…`,
 * `dark:…` with class-based dark mode): they appear in selectors without being styled.
 */
const MARKER = /^(group|peer)(\/.+)?$|^dark$/;

/** Every class named in a selector of `css`, unescaped (`md\:flex` → `md:flex`), markers aside. */
export function styledClasses(css) {
  const classes = new Set();
  const collect = selectorParser((selectors) => {
    selectors.walkClasses((node) => {
      if (!MARKER.test(node.value)) classes.add(node.value);
    });
  });
  postcss.parse(css).walkRules((rule) => {
    if (rule.parent?.type === 'atrule' && /keyframes$/i.test(rule.parent.name)) return;
    try {
      collect.processSync(rule.selector);
    } catch {
      // A selector postcss-selector-parser cannot read styles no class we could compare.
    }
  });
  return classes;
}

/** The classes in the `class` attributes of `html`, as a browser reads them. */
export function pageClasses(html) {
  const classes = new Set();
  for (const m of html.matchAll(/\sclass\s*=\s*("([^"]*)"|'([^']*)')/gi)) {
    for (const name of decodeEntities(m[2] ?? m[3]).split(/[\t\n\f\r ]+/)) {
      if (name && !MARKER.test(name)) classes.add(name);
    }
  }
  return classes;
}

/** The text of the `<style>` elements of a document. */
export function inlineCss(html) {
  return [...html.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style\s*>/gi)].map((m) => m[1]).join('\n');
}
