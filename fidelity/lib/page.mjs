// Reads what a model-written page asks for (its Tailwind config, its Play CDN plugins, its own
// `<style>` blocks, its icon fonts) and writes the reference documents that the benchmark renders.
//
// The page is read as text, the way it was written: the reference keeps the model's markup byte for
// byte except for the elements named below, so that the only differences between a reference and
// LivePage's page are the ones LivePage makes.

import vm from 'node:vm';

/** Decodes the few entities that appear in attribute values (`&amp;` in Google Fonts URLs). */
export function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos|nbsp);/gi, (entity, name) => {
    const lower = name.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(parseInt(lower.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' }[lower];
  });
}

function attribute(tag, name) {
  const match = tag.match(new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i'));
  if (!match) return null;
  return decodeEntities(match[2] ?? match[3] ?? match[4] ?? '');
}

const SCRIPT = /<script\b[^>]*>[\s\S]*?<\/script\s*>/gi;
const NOSCRIPT = /<noscript\b[^>]*>[\s\S]*?<\/noscript\s*>/gi;
const STYLE = /<style\b([^>]*)>([\s\S]*?)<\/style\s*>/gi;
const LINK = /<link\b[^>]*>/gi;

/**
 * Finds the object literal assigned to `tailwind.config` (also `window.tailwind.config`,
 * `tailwind.config={…}`) in a script's text: the text from its `{` to the matching `}`, skipping
 * strings, template literals and comments.
 */
export function configLiteral(scriptText) {
  const start = scriptText.search(/tailwind\s*\.\s*config\s*=\s*\{/);
  if (start < 0) return null;
  const open = scriptText.indexOf('{', start);
  let depth = 0;
  for (let i = open; i < scriptText.length; i++) {
    const c = scriptText[i];
    if (c === '"' || c === "'" || c === '`') {
      for (i++; i < scriptText.length && scriptText[i] !== c; i++) {
        if (scriptText[i] === '\\') i++;
      }
    } else if (c === '/' && scriptText[i + 1] === '/') {
      i = scriptText.indexOf('\n', i);
      if (i < 0) return null;
    } else if (c === '/' && scriptText[i + 1] === '*') {
      i = scriptText.indexOf('*/', i + 2) + 1;
      if (i <= 0) return null;
    } else if (c === '{') {
      depth++;
    } else if (c === '}') {
      depth--;
      if (depth === 0) return scriptText.slice(open, i + 1);
    }
  }
  return null;
}

/**
 * Evaluates a config literal in an empty V8 context (no `require`, no `process`, no globals of
 * this process, one second at most). This is the oracle's reading of the page's config; LivePage
 * must never execute it.
 */
export function evaluateConfig(literal) {
  return vm.runInNewContext(`(${literal})`, Object.create(null), { timeout: 1000 });
}

const PLAY_CDN_PLUGINS = {
  forms: '@tailwindcss/forms',
  typography: '@tailwindcss/typography',
  'aspect-ratio': '@tailwindcss/aspect-ratio',
  'container-queries': '@tailwindcss/container-queries',
};

/** Icon fonts from their npm packages, as the local font server names them. */
const MATERIAL_SYMBOLS = {
  Outlined: '/assets/material-symbols/outlined.css',
  Rounded: '/assets/material-symbols/rounded.css',
  Sharp: '/assets/material-symbols/sharp.css',
};
const MATERIAL_ICONS = '/assets/material-icons/iconfont/material-icons.css';
const FONT_AWESOME = '/assets/fontawesome/css/all.min.css';

/** The local stylesheets that stand for an external one, or `[]` when it is no icon font. */
function iconStylesheets(href) {
  const sheets = [];
  for (const [style, sheet] of Object.entries(MATERIAL_SYMBOLS)) {
    if (new RegExp(`Material[+ ]Symbols[+ ]${style}`, 'i').test(href)) sheets.push(sheet);
  }
  if (/Material[+ ]Icons/i.test(href)) sheets.push(MATERIAL_ICONS);
  if (/font-?awesome/i.test(href)) sheets.push(FONT_AWESOME);
  return sheets;
}

/** What a page asks of Tailwind and of the browser besides its markup. */
export function analyse(raw) {
  const scripts = [...raw.matchAll(SCRIPT)].map((m) => m[0]);
  const config = { literal: null, value: null, error: null };
  for (const script of scripts) {
    const literal = configLiteral(script.replace(/^<script\b[^>]*>/i, ''));
    if (literal) {
      config.literal = literal;
      try {
        config.value = evaluateConfig(literal);
      } catch (error) {
        config.error = String(error.message ?? error);
      }
      break;
    }
  }
  const plugins = new Set();
  const icons = new Set();
  for (const script of scripts) {
    const src = attribute(script.match(/^<script\b[^>]*>/i)[0], 'src') ?? '';
    const cdn = src.match(/cdn\.tailwindcss\.com[^?]*\?(.*)$/);
    if (cdn) {
      const names = new URLSearchParams(cdn[1]).get('plugins') ?? '';
      for (const name of names.split(',')) if (PLAY_CDN_PLUGINS[name]) plugins.add(PLAY_CDN_PLUGINS[name]);
    }
    if (/fontawesome/i.test(src)) icons.add(FONT_AWESOME); // a Font Awesome kit loads the CSS from its script
  }
  for (const link of raw.match(LINK) ?? []) {
    for (const sheet of iconStylesheets(attribute(link, 'href') ?? '')) icons.add(sheet);
  }
  const styles = [...raw.matchAll(STYLE)].map((m) => ({
    tailwind: /type\s*=\s*["']?text\/tailwindcss/i.test(m[1]),
    css: m[2],
  }));
  const rootTags = [raw.match(/<html\b[^>]*>/i)?.[0] ?? '', raw.match(/<body\b[^>]*>/i)?.[0] ?? ''];
  const rootDark = rootTags.some((tag) => (attribute(tag, 'class') ?? '').split(/\s+/).includes('dark'));
  return { config, plugins: [...plugins], icons: [...icons], styles, rootDark };
}

/**
 * The reference document: the page's markup without scripts (JavaScript is off anyway), without
 * `<noscript>` (which a browser with JavaScript on never shows) and without external stylesheets;
 * then, as asked, its icon fonts from the local server (where the page links them) and its own
 * `<style>` blocks; and the
 * Tailwind CSS at the end of the head, where the Play CDN puts the `<style>` it generates.
 */
export function referenceDocument(raw, { tailwindCss, keepPageStyles, iconSheets }) {
  let html = raw.replace(SCRIPT, '').replace(NOSCRIPT, '');
  // Every <link>: stylesheets, preconnects, favicons; an icon font's stylesheet is replaced by
  // the local one in its place, so the page's own rules that follow it still win, as they do on
  // the page (a `.material-symbols-outlined { font-size: 20px }` of its `<style>`).
  const placed = new Set();
  html = html.replace(LINK, (link) => {
    const sheets = iconStylesheets(attribute(link, 'href') ?? '').filter((sheet) => iconSheets.includes(sheet));
    for (const sheet of sheets) placed.add(sheet);
    return sheets.map((href) => `<link rel="stylesheet" href="${href}">`).join('\n');
  });
  html = html.replace(STYLE, (block, attributes) => {
    if (!keepPageStyles || /type\s*=\s*["']?text\/tailwindcss/i.test(attributes)) return '';
    return block;
  });
  const links = iconSheets.filter((sheet) => !placed.has(sheet)).map((href) => `<link rel="stylesheet" href="${href}">`).join('\n');
  const head = `${links}\n<style id="tailwind-v3-cli">\n${tailwindCss.replace(/<\/style/gi, '<\\/style')}\n</style>\n`;
  if (/<\/head\s*>/i.test(html)) return html.replace(/<\/head\s*>/i, `${head}</head>`);
  if (/<body\b/i.test(html)) return html.replace(/<body\b/i, `<head>${head}</head><body`);
  return `${head}${html}`;
}

/**
 * The page without the script that sets `tailwind.config`: what LivePage is given for the
 * comparison with the default config, so that both sides go without the page's theme.
 */
export function withoutConfig(raw) {
  return raw.replace(SCRIPT, (script) => (configLiteral(script) ? '' : script));
}

/** The input CSS for the Tailwind CLI: its three layers, then the page's `text/tailwindcss` blocks. */
export function tailwindInput(styles) {
  const own = styles.filter((s) => s.tailwind).map((s) => s.css);
  return ['@tailwind base;', '@tailwind components;', '@tailwind utilities;', ...own].join('\n');
}
