#!/usr/bin/env bash
# Writes colors.json, Tailwind CSS v3's default palette, from the official npm package at the
# version the Play CDN serves (src/sanitize/stylesheet.rs gives encre-css these values, since it
# ships Tailwind v4's oklch palette and models write v3). Needs node and npm (the registry only).
set -euo pipefail
cd "$(dirname "$0")"

TAILWIND=3.4.17

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "tailwindcss@$TAILWIND")
# The palette's current names (the deprecated aliases are getters that warn, and are left out).
node -e '
const colors = require(process.argv[1]);
const out = {};
for (const name of Object.keys(colors).sort()) {
  const descriptor = Object.getOwnPropertyDescriptor(colors, name);
  if (!("value" in descriptor) || typeof descriptor.value !== "object") continue;
  for (const [shade, value] of Object.entries(descriptor.value)) out[`${name}-${shade}`] = value;
}
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
' "$work/node_modules/tailwindcss/colors.js" > colors.json
cp "$work/node_modules/tailwindcss/LICENSE" LICENSE.tailwindcss
echo "tailwindcss $TAILWIND (MIT)" > VERSION
