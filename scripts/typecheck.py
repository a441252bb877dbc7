"""mypy (strict, settings in pyproject.toml) over the code and the tests: `make lint` and the
pre-commit hook both run this, so they check the same things.

The tests are checked one folder at a time, each folder its own import root: test module names
repeat across services (`conftest.py`, `test_replicas.py`), which mypy refuses within one run.

Usage: uv run python scripts/typecheck.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _existing(patterns: list[str]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        found.extend(str(p.relative_to(ROOT)) for p in sorted(ROOT.glob(pattern)) if p.is_dir())
    return found


SOURCES = _existing(["shared/src", "tools/src", "testing/src", "services/*/src"])
TEST_ROOTS = _existing(
    ["shared/tests", "tools/tests", "testing/tests", "services/*/tests", "tests"]
)


def _mypy(paths: list[str], import_root: str | None) -> bool:
    env = dict(os.environ)
    if import_root is not None:
        env["MYPYPATH"] = import_root
    print(f"mypy {' '.join(paths)}", flush=True)
    completed = subprocess.run([sys.executable, "-m", "mypy", *paths], cwd=ROOT, env=env)
    return completed.returncode == 0


def main() -> int:
    results = [_mypy(SOURCES, None)]
    results.extend(_mypy([root], root) for root in TEST_ROOTS)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
