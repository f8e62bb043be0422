#!/usr/bin/env python3
"""Small queries meson.build cannot answer itself (meson has no regex and no glob).

  meson_query.py version              print SLUICE_VERSION_STRING from include/sluice/version.hpp
  meson_query.py glob DIR PATTERN     print the files in DIR (relative to the repository) matching
                                      PATTERN, one per line, sorted, as paths relative to DIR
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv):
    if len(argv) == 1 and argv[0] == "version":
        text = (ROOT / "include" / "sluice" / "version.hpp").read_text(encoding="utf-8")
        match = re.search(r'^\s*#\s*define\s+SLUICE_VERSION_STRING\s+"([^"]+)"', text, re.MULTILINE)
        if not match:
            print("meson_query.py: no SLUICE_VERSION_STRING in include/sluice/version.hpp", file=sys.stderr)
            return 1
        print(match.group(1))
        return 0
    if len(argv) == 3 and argv[0] == "glob":
        base = ROOT / argv[1]
        for path in sorted(p for p in base.glob(argv[2]) if p.is_file()):
            print(path.relative_to(base).as_posix())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
