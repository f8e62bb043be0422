#!/usr/bin/env bash
# Checks the status page of a running service in Debian's headless Chromium: installs puppeteer-core
# into tests/status_page (npm ci, pinned by its package-lock.json; it downloads no browser) when
# missing or older than the lock, then runs tests/status_page/check-page.mjs against /usr/bin/chromium
# (SLUICE_CHROMIUM overrides). Screenshots go to <out-dir>; their paths are printed.
#
#   scripts/status-page-browser.sh <base-url | @file-holding-it> <out-dir>
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/status_page"
# shellcheck source=scripts/lib/npm-pinned.sh
source "$root/scripts/lib/npm-pinned.sh"

die() { echo "status-page-browser: error: $*" >&2; exit 1; }
[[ $# -eq 2 ]] || { echo "usage: $0 <base-url | @file> <out-dir>" >&2; exit 2; }
base="$1"
if [[ "$base" == @* ]]; then base="$(cat "${base#@}")" || die "cannot read ${1#@}"; fi
out="$2"
chromium="${SLUICE_CHROMIUM:-/usr/bin/chromium}"
[[ -x "$chromium" ]] || die "$chromium is not installed (run scripts/install-deps.sh: Debian's chromium)"
npm_ci_pinned "$dir" status-page-browser puppeteer-core || die "could not install puppeteer-core"

SLUICE_CHROMIUM="$chromium" node "$dir/check-page.mjs" "$base" "$out"
