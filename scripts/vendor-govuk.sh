#!/bin/sh
# Copies GOV.UK Frontend's (6.x) built CSS, JavaScript, fonts and images from
# node_modules into pkg/adapter/web/govuk/static, where the intake and reconciler
# binaries embed them (package govuk).
# The copies are committed, so `go build` works on a fresh clone without npm;
# run this (after `npm ci`) only when package.json changes govuk-frontend's
# version, then commit pkg/adapter/web/govuk/static.
set -eu
cd "$(dirname "$0")/.."
src=node_modules/govuk-frontend/dist/govuk
dst=pkg/adapter/web/govuk/static
if [ ! -f "$src/govuk-frontend.min.css" ]; then
	echo "vendor-govuk: $src not found: run 'npm ci' first" >&2
	exit 1
fi
rm -rf "$dst"
mkdir -p "$dst"
# The stylesheet refers to /assets/fonts/... and /assets/images/..., and the
# service serves $dst at /assets/, so the layout below must stay as it is.
cp "$src/govuk-frontend.min.css" "$src/govuk-frontend.min.js" "$dst/"
cp -R "$src/assets/fonts" "$src/assets/images" "$src/assets/manifest.json" "$dst/"
# Every file the stylesheet and the manifest refer to must have been copied
# (a layout change in a new major version would otherwise show as missing
# fonts or icons only in a browser).
for ref in $(grep -o 'url(/assets/[^)]*)' "$dst/govuk-frontend.min.css" | sed 's|^url(/assets/||; s|)$||' | sort -u) \
	$(node -e 'for (const i of require(process.argv[1]).icons) console.log(i.src)' "$PWD/$dst/manifest.json"); do
	if [ ! -f "$dst/$ref" ]; then
		echo "vendor-govuk: $dst/$ref is referred to but was not copied: check $src for its new place" >&2
		exit 1
	fi
done
version=$(node -p "require('./node_modules/govuk-frontend/package.json').version")
printf '%s\n' "$version" > "$dst/VERSION"
echo "vendor-govuk: copied govuk-frontend $version to $dst"
