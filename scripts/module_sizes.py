"""Fails when a module of the named packages is much over ~300 lines (a module that grows past
it is doing two things: split it before it becomes a ``helpers.py`` of a thousand lines).

    .venv/bin/python scripts/module_sizes.py training infra web

Alembic's generated migrations are left out (they are data, written once).
"""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 320  # "~300": a little slack, so a docstring line does not force a split


def oversized(packages: list[str]) -> list[tuple[Path, int]]:
    found = []
    for package in packages:
        for path in sorted(Path(package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > LIMIT:
                found.append((path, lines))
    return found


def main(packages: list[str]) -> int:
    found = oversized(packages)
    for path, lines in found:
        print(f"{path}: {lines} lines (at most ~300; split it)")
    if not found:
        print(f"every module of {', '.join(packages)} is at most {LIMIT} lines")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
