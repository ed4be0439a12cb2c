"""The project's static checks, run by `make test` before the tests: ruff (lint and format),
mypy (strict on transcoder/ and training/), and import-linter (the dependency direction)."""

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
