"""The project's static checks, run by `make test` before the tests: ruff (lint and format),
mypy (strict on transcoder/ and training/), import-linter (the dependency direction between
packages and between the areas of training/), no import cycle between modules, and no module
of training/, infra/ or web/ much over 300 lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
CHECKS = (
    [str(BIN / "ruff"), "check", "."],
    [str(BIN / "ruff"), "format", "--check", "."],
    [str(BIN / "mypy")],
    [str(BIN / "lint-imports")],
    [sys.executable, "scripts/import_cycles.py", "training", "transcoder", "infra", "web"],
    [sys.executable, "scripts/module_sizes.py", "training", "infra", "web"],
)


def main() -> int:
    failed = []
    for command in CHECKS:
        print(
            "$",
            " ".join(Path(command[0]).name if i == 0 else part for i, part in enumerate(command)),
            flush=True,
        )
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(Path(command[0]).name)
    if failed:
        print(f"checks failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
