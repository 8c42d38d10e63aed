#!/usr/bin/env bash
# Fetches the icon fonts that LivePage serves to its pages (src/sanitize/icons.rs) from their
# npm packages, at the versions below, into this folder. Run it to upgrade one; commit the result.
# Needs npm (the registry only). The files are used as published, except that the stylesheets'
# font URLs are left for LivePage to point at /fonts/, and the woff and TrueType fallbacks
# (never fetched by a browser that reads woff2, and not vendored) are dropped.
set -euo pipefail
cd "$(dirname "$0")"

MATERIAL_SYMBOLS=0.47.5
MATERIAL_ICONS=1.13.14
FONT_AWESOME=6.7.2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "material-symbols@$MATERIAL_SYMBOLS" "material-icons@$MATERIAL_ICONS" \
  "@fortawesome/fontawesome-free@$FONT_AWESOME" >/dev/null)
unpack() { mkdir -p "$work/$1" && tar xzf "$work/$2" -C "$work/$1" --strip-components=1; }
unpack symbols "material-symbols-$MATERIAL_SYMBOLS.tgz"
unpack icons "material-icons-$MATERIAL_ICONS.tgz"
unpack awesome "fortawesome-fontawesome-free-$FONT_AWESOME.tgz"

for style in outlined rounded sharp; do
  cp "$work/symbols/material-symbols-$style.woff2" .
  cp "$work/symbols/$style.css" "material-symbols-$style.css"
done
cp "$work/symbols/LICENSE" LICENSE.material-symbols
cp "$work/icons/iconfont/"*.woff2 .
sed -E 's/, *url\("\.\/[a-z-]+\.woff"\) format\("woff"\)//g' \
  "$work/icons/iconfont/material-icons.css" > material-icons.css
cp "$work/icons/LICENSE" LICENSE.material-icons
for style in solid-900 regular-400 brands-400; do
  cp "$work/awesome/webfonts/fa-$style.woff2" .
done
without_ttf() { sed -E 's/,url\(\.\.\/webfonts\/[a-z0-9-]+\.ttf\) format\("truetype"\)//g' "$1"; }
without_ttf "$work/awesome/css/fontawesome.min.css" > fontawesome.css
for style in solid regular brands; do
  without_ttf "$work/awesome/css/$style.min.css" > "fontawesome-$style.css"
done
cp "$work/awesome/LICENSE.txt" LICENSE.fontawesome

cat > VERSIONS <<VERSIONS
material-symbols $MATERIAL_SYMBOLS (Apache-2.0)
material-icons $MATERIAL_ICONS (Apache-2.0)
@fortawesome/fontawesome-free $FONT_AWESOME (fonts: SIL OFL 1.1; CSS: MIT; icons: CC BY 4.0)
VERSIONS
