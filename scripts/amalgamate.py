#!/usr/bin/env python3
"""Build the single-header edition of sluice.

Inlines include/sluice/sluice.hpp into single_include/sluice/sluice.hpp by following
`#include <sluice/...>` (and `#include "..."` that resolve under include/sluice) recursively, the way
the preprocessor would with `#pragma once`: each header is inlined once, at its first inclusion,
between `// begin file sluice/x.hpp` and `// end file sluice/x.hpp` markers. `#pragma once` lines
are dropped from the inlined headers and a single one is put at the top. Every other line, system
includes included, is kept as it is. The output is deterministic (no timestamp) so it can be
committed and checked.

A header reached inside an #if block (an optional dependency: `#if SLUICE_HAS_CURL`) is wrapped in an
include guard of its own, and inlined again, under the same guard, wherever it is included under
other conditions (sluice/http/client.hpp by sluice.hpp under SLUICE_HAS_CURL and by
sluice/aws/service_client.hpp under CURL && OPENSSL && SIMDJSON): whichever block is active first
defines it, as the preprocessor would.

Fails (exit 2) when the include graph has a cycle, when an included sluice header does not exist, or
when a header under include/sluice is not reached from sluice.hpp.

Usage:
  scripts/amalgamate.py            regenerate single_include/sluice/sluice.hpp
  scripts/amalgamate.py --check    exit 1 if the committed file differs from a fresh amalgamation
  scripts/amalgamate.py -o FILE    write the amalgamation to FILE instead
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = INCLUDE_DIR = PACKAGE_DIR = ENTRY = OUTPUT = VERSION_HEADER = Path()


def set_root(root: Path) -> None:
    global ROOT, INCLUDE_DIR, PACKAGE_DIR, ENTRY, OUTPUT, VERSION_HEADER
    ROOT = root.resolve()
    INCLUDE_DIR = ROOT / "include"
    PACKAGE_DIR = INCLUDE_DIR / "sluice"
    ENTRY = PACKAGE_DIR / "sluice.hpp"
    OUTPUT = ROOT / "single_include" / "sluice" / "sluice.hpp"
    VERSION_HEADER = PACKAGE_DIR / "version.hpp"


set_root(Path(__file__).resolve().parent.parent)
HEADER_SUFFIXES = {".hpp", ".h", ".hh", ".hxx", ".ipp", ".inl", ".tpp"}

STALE_MESSAGE = "single_include/sluice/sluice.hpp is stale: run scripts/amalgamate.py"

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
PRAGMA_ONCE_RE = re.compile(r"^\s*#\s*pragma\s+once\b")
IF_RE = re.compile(r"^\s*#\s*(if|ifdef|ifndef)\b")
ELSE_RE = re.compile(r"^\s*#\s*(else|elif|elifdef|elifndef)\b")
ENDIF_RE = re.compile(r"^\s*#\s*endif\b")
VERSION_RE = re.compile(r'^\s*#\s*define\s+SLUICE_VERSION_STRING\s+"([^"]+)"', re.MULTILINE)


class AmalgamationError(Exception):
    pass


def rel(path: Path) -> str:
    """sluice/x.hpp for a file under include/."""
    return path.relative_to(INCLUDE_DIR).as_posix()


def read_version() -> str:
    match = VERSION_RE.search(VERSION_HEADER.read_text(encoding="utf-8"))
    if not match:
        raise AmalgamationError(f"no SLUICE_VERSION_STRING in {VERSION_HEADER.relative_to(ROOT)}")
    return match.group(1)


class Amalgamator:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.done: dict[Path, list[list[int]]] = {}  # file -> the conditional stacks it was inlined under
        self.active: list[Path] = []  # files being inlined right now (for cycle detection)
        self.cond_stack: list[int] = []  # ids of the open #if/#elif/#else branches
        self.next_cond_id = 0

    def resolve(self, current: Path, quote: str, target: str) -> Path | None:
        """The header under include/sluice an include refers to, or None for anything else."""
        candidates = []
        if quote == '"':
            candidates.append(current.parent / target)
        candidates.append(INCLUDE_DIR / target)
        for candidate in candidates:
            candidate = Path(os.path.normpath(candidate))
            if candidate.is_file() and PACKAGE_DIR in candidate.parents:
                return candidate
        if target.startswith("sluice/"):
            raise AmalgamationError(f"{rel(current)} includes <{target}>, which does not exist")
        return None

    def inline(self, path: Path, where: str) -> None:
        if path in self.active:
            chain = " -> ".join(rel(p) for p in self.active[self.active.index(path):] + [path])
            raise AmalgamationError(f"include cycle: {chain}")
        stacks = self.done.setdefault(path, [])
        # Already inlined under conditions that hold here too: nothing to add.
        if any(self.cond_stack[: len(stack)] == stack for stack in stacks):
            return
        guarded = bool(self.cond_stack) or bool(stacks)
        stacks.append(list(self.cond_stack))
        self.active.append(path)
        name = rel(path)
        self.out.append(f"// begin file {name}\n")
        guard = "SLUICE_SINGLE_HEADER_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
        if guarded:
            # The guard is not a condition of its own: what is inlined under it is defined wherever
            # the enclosing conditions hold (here, or at an earlier inlining).
            self.out.append(f"#ifndef {guard}\n#define {guard}\n")
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for number, line in enumerate(lines, start=1):
            if PRAGMA_ONCE_RE.match(line):
                continue
            if IF_RE.match(line):
                self.cond_stack.append(self.new_cond_id())
            elif ELSE_RE.match(line):
                if not self.cond_stack:
                    raise AmalgamationError(f"{name}:{number}: #else/#elif without #if")
                self.cond_stack[-1] = self.new_cond_id()
            elif ENDIF_RE.match(line):
                if not self.cond_stack:
                    raise AmalgamationError(f"{name}:{number}: #endif without #if")
                self.cond_stack.pop()
            match = INCLUDE_RE.match(line)
            if match:
                target = self.resolve(path, match.group(1), match.group(2).strip())
                if target is not None:
                    self.inline(target, f"{name}:{number}")
                    continue
            self.out.append(line.rstrip("\r") + "\n")
        if guarded:
            self.out.append(f"#endif // {guard}\n")
        self.out.append(f"// end file {name}\n")
        self.active.pop()

    def new_cond_id(self) -> int:
        self.next_cond_id += 1
        return self.next_cond_id


def amalgamate() -> str:
    if not ENTRY.is_file():
        raise AmalgamationError(f"{ENTRY.relative_to(ROOT)} does not exist")
    version = read_version()
    worker = Amalgamator()
    worker.inline(ENTRY, "entry point")
    if worker.cond_stack:
        raise AmalgamationError("unbalanced #if/#endif in the sluice headers")

    all_headers = sorted(p for p in PACKAGE_DIR.rglob("*") if p.is_file() and p.suffix in HEADER_SUFFIXES)
    unreached = [rel(p) for p in all_headers if p not in worker.done]
    if unreached:
        raise AmalgamationError(
            "headers not reached from sluice/sluice.hpp (include them from the umbrella header "
            "or from a header it includes): " + ", ".join(unreached))

    banner = [
        f"// sluice {version}: single-header edition.\n",
        "//\n",
        "// Generated by scripts/amalgamate.py from include/sluice/sluice.hpp: do not edit by hand.\n",
        "// Regenerate with: python3 scripts/amalgamate.py\n",
        "//\n",
        "// Copyright (c) 2026 the sluice authors. SPDX-License-Identifier: MIT\n",
        "#pragma once\n",
        "\n",
    ]
    return "".join(banner + worker.out)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check(text: str) -> int:
    with tempfile.TemporaryDirectory(prefix="sluice-amalgamate-") as tmpdir:
        fresh = Path(tmpdir) / "sluice.hpp"
        write_atomically(fresh, text)
        fresh_text = fresh.read_text(encoding="utf-8")
    committed = OUTPUT.read_text(encoding="utf-8") if OUTPUT.is_file() else None
    if committed == fresh_text:
        print(f"{OUTPUT.relative_to(ROOT).as_posix()} is up to date")
        return 0
    print(STALE_MESSAGE, file=sys.stderr)
    if committed is None:
        print(f"({OUTPUT.relative_to(ROOT).as_posix()} does not exist)", file=sys.stderr)
    else:
        diff = list(difflib.unified_diff(
            committed.splitlines(keepends=True), fresh_text.splitlines(keepends=True),
            fromfile="committed", tofile="fresh"))
        sys.stderr.writelines(diff[:60])
        if len(diff) > 60:
            print(f"... ({len(diff) - 60} more diff lines)", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the committed single header is stale")
    parser.add_argument("-o", "--output", type=Path,
                        help="write here instead of single_include/sluice/sluice.hpp")
    parser.add_argument("--root", type=Path, help="the repository to work on (default: this script's)")
    args = parser.parse_args(argv)
    if args.root:
        set_root(args.root)
    try:
        text = amalgamate()
    except AmalgamationError as error:
        print(f"amalgamate.py: error: {error}", file=sys.stderr)
        return 2
    if args.check:
        return check(text)
    target = args.output if args.output else OUTPUT
    write_atomically(target, text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
