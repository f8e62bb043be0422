#!/usr/bin/env bash
# Builds the API reference from the headers' /// comments with doxygen (docs/Doxyfile) into
# <output>/html, and fails on any doxygen warning: a doc markup error anywhere, or a public type,
# function or member without a comment; and on a namespace without one (docs/namespaces.dox), whose
# names doxygen would not check. The detail namespaces (EXCLUDE_SYMBOLS in docs/Doxyfile) and
# */detail/* are internals and not checked.
#
#   bash scripts/docs.sh [OUTPUT_DIR]        (default: build/docs)
#
# Headers not yet fully documented are listed in docs/api-backlog.txt (one path under include/ a
# line); their "is not documented" warnings are counted and printed, not fatal. A header not in the
# list must be complete, and a listed header that became complete is reported so it can leave the
# list. Only this script decides pass/fail, so the Doxyfile keeps WARN_AS_ERROR for plain `doxygen`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "${1:-$root/build/docs}")"
command -v doxygen >/dev/null || { echo "docs.sh: doxygen not found (bash scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$out"
log="$out/warnings.log"
rm -f "$log"

cd "$root"
# WARN_AS_ERROR=NO here: every warning is collected first, then judged below. The XML index is
# read below for the namespaces doxygen found.
( cat docs/Doxyfile; echo "WARN_AS_ERROR = NO"; echo "QUIET = YES"
  echo "GENERATE_XML = YES"; echo "XML_PROGRAMLISTING = NO" ) |
    SLUICE_DOCS_OUTPUT="$out" doxygen - >"$out/doxygen.out" 2>&1 || {
    cat "$out/doxygen.out" >&2; echo "docs.sh: doxygen failed" >&2; exit 1; }
touch "$log"

mapfile -t backlog < <(sed 's/#.*//; /^[[:space:]]*$/d; s/[[:space:]]*$//' docs/api-backlog.txt)
is_backlog() { local h; for h in "${backlog[@]}"; do [[ "$1" == "$h" ]] && return 0; done; return 1; }

fatal=0
declare -A tolerated=()
while IFS= read -r line; do
    # doxygen 1.9.4 cannot place a specialization of a std template (std::is_error_code_enum<our
    # enum>) and says so; it is not about our comments.
    [[ "$line" == *"Internal inconsistency: scope for class std::"* ]] && continue
    file="${line%%:*}"
    rel="${file#"$root"/include/}"
    if [[ "$line" == *" is not documented."* ]] && is_backlog "$rel"; then
        tolerated[$rel]=$(( ${tolerated[$rel]:-0} + 1 ))
        continue
    fi
    echo "${line#"$root"/}"
    fatal=$((fatal + 1))
done <"$log"

# doxygen reports the undocumented free functions, enums, variables and typedefs of a documented
# namespace only, and says nothing of an undocumented namespace: each one it found (every namespace
# but those EXCLUDE_SYMBOLS hides) must be documented, or its names would go unchecked. A namespace's
# own description is the compound's (4-space indented) brief and detailed description in its XML.
namespace_documented() {
    awk '/^    <briefdescription>/ { on = 1 } on && /<para>/ { found = 1 } /^    <\/detaileddescription>/ { on = 0 }
         END { exit !found }' "$out/xml/$1.xml"
}
namespaces=0
while read -r refid name; do
    namespaces=$((namespaces + 1))
    namespace_documented "$refid" && continue
    echo "docs.sh: namespace $name is not documented: add it to docs/namespaces.dox (or, if it is internal, to EXCLUDE_SYMBOLS in docs/Doxyfile)"
    fatal=$((fatal + 1))
done < <(sed -nE 's|^ *<compound refid="([^"]+)" kind="namespace"><name>([^<]+)</name>.*|\1 \2|p' "$out/xml/index.xml")
if (( namespaces == 0 )); then
    echo "docs.sh: no namespace in $out/xml/index.xml: the namespace check above cannot have worked"
    fatal=$((fatal + 1))
fi

left=0
for h in "${backlog[@]}"; do
    n=${tolerated[$h]:-0}
    left=$((left + n))
    if (( n == 0 )); then
        echo "docs.sh: $h is fully documented now: remove it from docs/api-backlog.txt"
        fatal=$((fatal + 1))
    fi
done
echo "docs.sh: $fatal fatal warning(s); $left undocumented name(s) left in ${#backlog[@]} backlog header(s); reference in $out/html/index.html"
(( fatal == 0 ))
