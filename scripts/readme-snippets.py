#!/usr/bin/env python3
"""Compiles every ```cpp block of a Markdown file, so the README's code cannot drift from the library.

    python3 scripts/readme-snippets.py [--cxx g++] [-I include] [-D NAME=1 ...] [--keep DIR] README.md

Every ```cpp block must be preceded (on the line just before its fence) by one HTML comment that
says how to compile it; a block without one fails the check, so a new snippet is never silently
untested. The comment is invisible on GitHub and sits next to the block it describes:

    <!-- snippet: file -->
        the block is a whole translation unit, compiled as written.

    <!-- snippet: wrap
    #include <sluice/sluice.hpp>
    using namespace sluice;
    task<void> example(io_loop& loop) {
    @@
        co_return;
    }
    -->
        the block is a fragment: the lines after `wrap` are the context it needs (includes, `using`,
        the names it refers to), and `@@` (alone on a line) is where the block goes.

    <!-- snippet: skip <reason> -->
        the block cannot compile on its own; it is counted and its reason printed.

Each compiled block is checked with `-fsyntax-only -std=c++20 -Wall -Wextra -Wpedantic -Werror`.
Exits non-zero when a block fails to compile or has no comment; prints one line per block and a
summary `N compiled, M skipped, K failed`.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^```cpp\s*$")
END_FENCE = re.compile(r"^```\s*$")
COMMENT_START = re.compile(r"^<!--\s*snippet:\s*(\w+)(.*)$")


def comment_before(lines, fence_index):
    """The snippet comment ending on the line before the fence: (mode, rest, body lines) or None."""
    end = fence_index - 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return None
    start = end
    while start >= 0 and not lines[start].lstrip().startswith("<!--"):
        start -= 1
    if start < 0:
        return None
    m = COMMENT_START.match(lines[start].strip())
    if not m:
        return None
    mode, rest = m.group(1), m.group(2).strip()
    if start == end:  # one-line comment: <!-- snippet: mode rest -->
        return mode, rest[: -len("-->")].strip() if rest.endswith("-->") else rest, []
    body = lines[start + 1 : end]
    closing = lines[end].rstrip()[: -len("-->")]
    if closing.strip():
        body.append(closing)
    return mode, rest, body


def blocks(lines):
    """Yields (line number of the fence, block lines, comment) for every ```cpp block."""
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i].strip()):
            j = i + 1
            while j < len(lines) and not END_FENCE.match(lines[j].strip()):
                j += 1
            if j == len(lines):
                raise SystemExit(f"line {i + 1}: ```cpp block never closed")
            yield i + 1, lines[i + 1 : j], comment_before(lines, i)
            i = j
        i += 1


def source_for(block, comment, line, markdown):
    """The translation unit to compile, or (None, reason) for a block marked skip."""
    mode, rest, body = comment
    if mode == "file":
        return "\n".join([f'#line {line + 1} "{markdown}"'] + block) + "\n", None
    if mode == "wrap":
        markers = [k for k, line in enumerate(body) if line.strip() == "@@"]
        if len(markers) != 1:
            return None, "wrap comment needs exactly one '@@' line"
        k = markers[0]
        return "\n".join(body[:k] + [f'#line {line + 1} "{markdown}"'] + block + body[k + 1 :]) + "\n", None
    if mode == "skip":
        return None, rest or "no reason given"
    return None, f"unknown snippet mode '{mode}'"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("markdown")
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    ap.add_argument("-I", dest="includes", action="append", default=[])
    ap.add_argument("-D", dest="defines", action="append", default=[])
    ap.add_argument("--keep", help="write each snippet's translation unit into this directory")
    args = ap.parse_args()

    with open(args.markdown, encoding="utf-8") as f:
        lines = f.read().split("\n")

    flags = ["-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
    flags += [f"-I{d}" for d in args.includes] + [f"-D{d}" for d in args.defines if d]

    compiled = skipped = failed = 0
    workdir = args.keep or tempfile.mkdtemp(prefix="sluice-readme-")
    os.makedirs(workdir, exist_ok=True)
    for line, block, comment in blocks(lines):
        where = f"{args.markdown}:{line}"
        if comment is None:
            print(f"FAIL {where}: no <!-- snippet: file|wrap|skip --> comment before the block")
            failed += 1
            continue
        source, reason = source_for(block, comment, line, args.markdown)
        if source is None:
            if comment[0] == "skip":
                print(f"skip {where}: {reason}")
                skipped += 1
            else:
                print(f"FAIL {where}: {reason}")
                failed += 1
            continue
        path = os.path.join(workdir, f"readme_line_{line}.cpp")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        run = subprocess.run([args.cxx, *flags, path], capture_output=True, text=True)
        if run.returncode == 0:
            print(f"ok   {where} ({comment[0]})")
            compiled += 1
        else:
            print(f"FAIL {where} ({comment[0]}): {path}\n{run.stderr}")
            failed += 1

    print(f"{compiled} compiled, {skipped} skipped, {failed} failed")
    return 1 if failed or compiled == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
