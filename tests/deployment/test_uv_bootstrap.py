"""`make uv` installs the pinned uv with a python that has no pip (a fresh Debian 12).

These tests download uv from PyPI, as `.ci/run` does on a fresh machine, so they are `slow`.
The python they use is a venv made `--without-pip`: the pip-based bootstrap this replaced
failed there with "No module named pip".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pinned_uv_version() -> str:
    found = re.search(r"^UV_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, "the Makefile pins no UV_VERSION"
    return found.group(1)


@pytest.fixture
def python_without_pip(tmp_path: Path) -> Path:
    venv = tmp_path / "nopip"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    no_pip = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True)
    assert no_pip.returncode != 0, "the test python must not have pip"
    return python


def _make_uv(python: Path, uv_venv: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # UV points at the venv's binary, so a uv on this machine's PATH is not used instead.
    command = [
        "make", "-s", "-C", str(ROOT), "uv",
        f"PYTHON={python}", f"UV_VENV={uv_venv}", f"UV={uv_venv}/bin/uv",
    ]  # fmt: skip
    environment = {**os.environ, **env}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)


def _version_of(uv: Path) -> str:
    return subprocess.run([str(uv), "--version"], capture_output=True, text=True).stdout.split()[1]


@pytest.mark.slow
def test_make_uv_installs_the_pinned_uv_with_a_python_that_has_no_pip(
    python_without_pip: Path, tmp_path: Path
) -> None:
    uv_venv = tmp_path / "uv-venv"

    result = _make_uv(python_without_pip, uv_venv)

    assert result.returncode == 0, result.stderr
    assert _version_of(uv_venv / "bin" / "uv") == _pinned_uv_version()


@pytest.mark.slow
def test_without_ensurepip_the_uv_wheel_is_unpacked_from_pypi(
    python_without_pip: Path, tmp_path: Path
) -> None:
    uv_venv = tmp_path / "uv-venv"

    result = _make_uv(python_without_pip, uv_venv, MYNAFLOW_UV_BOOTSTRAP="wheel")

    assert result.returncode == 0, result.stderr
    assert "fetching the uv wheel" in result.stderr
    assert _version_of(uv_venv / "bin" / "uv") == _pinned_uv_version()
