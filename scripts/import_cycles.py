"""Fails when modules of a package import each other in a cycle (``training`` by default).

    .venv/bin/python scripts/import_cycles.py [PACKAGE ...]

import-linter checks the direction between areas; this finds a cycle between any two modules
(``a → b → c → a``), which a direction contract between areas does not see when the cycle
stays inside one area. Imports under ``if TYPE_CHECKING:`` count: a type-only cycle still ties
the modules together for a reader.
"""

from __future__ import annotations

import sys

import grimp


def cycles(package: str) -> list[list[str]]:
    """Each cycle once, as the list of its modules in import order."""
    graph = grimp.build_graph(package)
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is None:
                continue
            cycle = [module, *back[:-1]] if back[0] == imported else [module, *back]
            key = frozenset(cycle)
            if key not in seen:
                seen.add(key)
                found.append(cycle)
    return found


def main(packages: list[str]) -> int:
    failed = 0
    for package in packages:
        for cycle in cycles(package):
            print(f"import cycle: {' → '.join([*cycle, cycle[0]])}")
            failed += 1
    if not failed:
        print(f"no import cycles in {', '.join(packages)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["training"]))
