"""What identifies a run: its id, the code version, the git commit, the environment.

Light on purpose (standard library only): the pytest plugin imports it on the controller, which
never needs torch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import secrets
import subprocess
import sys
from importlib import metadata
from pathlib import Path

_PACKAGE = Path(__file__).parent
# The source files that can change a trained result (the cache key includes their hash).
RESULT_AFFECTING = ("data", "models", "fused2d.py", "losses.py", "metrics.py", "stacking.py", "sweep.py",
                    "training.py", "results.py")


def code_version() -> str:
    """Hash of the source files that can change a trained result."""
    digest = hashlib.sha256()
    for entry in RESULT_AFFECTING:
        path = _PACKAGE / entry
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(f.relative_to(_PACKAGE).as_posix().encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: UTC start time and 6 random hex digits, e.g. ``20261130T052700Z-3fa9c1``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def git_info(root: Path | str | None = None) -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the checkout at ``root`` (read-only git calls)."""
    root = Path(root or _PACKAGE.parent)

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def environment() -> dict:
    """Python, platform and package versions, without importing torch."""
    env = {"python": sys.version.split()[0], "platform": platform.platform(), "processor": platform.machine(),
           "cpu_count": os.cpu_count()}
    for package in ("torch", "numpy", "pytest", "pytest-xdist", "transformers"):
        try:
            env[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return env
