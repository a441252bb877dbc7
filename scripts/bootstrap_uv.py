"""Install a pinned uv without needing pip: `python3 scripts/bootstrap_uv.py 0.13.8`.

A fresh Debian 12 has no pip for the system python3, and pip refuses to install into it anyway
(PEP 668). So uv goes into a private virtual environment, `~/.cache/mynaflow/uv-venv` (or
`$MYNAFLOW_UV_VENV`), the same way for root and for a user:

1. `python3 -m venv` with pip (ensurepip), then `pip install uv==VERSION` there;
2. where ensurepip is missing (Debian without `python3-venv`), the uv wheel itself is fetched
   from PyPI with the standard library, checked against the sha256 the index publishes, and its
   `uv` binary is unpacked into the venv's `bin/`.

`MYNAFLOW_UV_BOOTSTRAP=wheel` skips step 1 (to test step 2 on a machine that has ensurepip).
Prints the path of the uv binary on its last line. Stdlib only: it runs before uv exists.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

# The package index's JSON simple API (PEP 691), as pip reads it; `PIP_INDEX_URL` may name a mirror.
DEFAULT_INDEX = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_WHEEL_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def venv_dir() -> Path:
    explicit = os.environ.get("MYNAFLOW_UV_VENV")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mynaflow" / "uv-venv"


def installed_version(uv: Path) -> str | None:
    try:
        out = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    parts = out.stdout.split()
    return parts[1] if len(parts) > 1 else None


def install_with_pip(venv: Path, version: str) -> bool:
    """True when a venv with pip could be made and uv installed into it."""
    made = subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=False)
    if made.returncode != 0:
        return False
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    return subprocess.run([*pip, f"uv=={version}"], check=False).returncode == 0


def _wheel_matches(filename: str, version: str, arch: str) -> bool:
    # manylinux wheels run on Debian (glibc); musllinux ones would not.
    return (
        filename.startswith(f"uv-{version}-")
        and filename.endswith(f"{arch}.whl")
        and "manylinux" in filename
    )


def wheel_download(version: str) -> tuple[str, str]:
    """(url, sha256) of the manylinux uv wheel for this machine, from the index's JSON API."""
    arch = _WHEEL_ARCH.get(platform.machine().lower())
    if arch is None or not sys.platform.startswith("linux"):
        raise SystemExit(f"no uv wheel known for {sys.platform}/{platform.machine()}")
    index = os.environ.get("PIP_INDEX_URL", DEFAULT_INDEX).rstrip("/")
    request = urllib.request.Request(f"{index}/uv/", headers={"Accept": SIMPLE_JSON})
    with urllib.request.urlopen(request, timeout=60) as response:
        project = json.load(response)
    for file in project["files"]:
        if _wheel_matches(file["filename"], version, arch):
            return urllib.parse.urljoin(f"{index}/uv/", file["url"]), file["hashes"]["sha256"]
    raise SystemExit(f"the index has no manylinux {arch} wheel of uv {version}")


def install_from_wheel(venv: Path, version: str) -> None:
    """Unpack the `uv` binary of the official wheel into `venv/bin`, after a checksum check."""
    url, sha256 = wheel_download(version)
    with urllib.request.urlopen(url, timeout=300) as response:
        wheel = response.read()
    if hashlib.sha256(wheel).hexdigest() != sha256:
        raise SystemExit(f"checksum mismatch for {url}")
    bin_dir = venv / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".data/scripts/uv"))
        target = bin_dir / "uv"
        with archive.open(member) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out)
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def bootstrap(version: str) -> Path:
    venv = venv_dir()
    uv = venv / "bin" / "uv"
    if installed_version(uv) == version:
        return uv
    wheel_only = os.environ.get("MYNAFLOW_UV_BOOTSTRAP") == "wheel"
    if wheel_only or not install_with_pip(venv, version):
        print("no pip available for a venv; fetching the uv wheel from PyPI", file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
        install_from_wheel(venv, version)
    found = installed_version(uv)
    if found != version:
        raise SystemExit(f"uv bootstrap failed: {uv} reports {found!r}, wanted {version}")
    return uv


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: bootstrap_uv.py VERSION")
    print(bootstrap(sys.argv[1]))


if __name__ == "__main__":
    main()
