"""A path given to a path option, as ``--opt PATH`` or ``--opt=PATH``, inside, beside or outside the project,
leaves pytest's rootdir and config file as they are without it (``iwcore/rootdir.py``): typed on a command
line in a subprocess, which gets the plugin through its entry point, as a user's pytest does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import iwcore

REPO = Path(iwcore.__file__).resolve().parents[1]
PATH_OPTIONS = ("--data-dir", "--cache-dir", "--report-dir", "--bert-model")
PROJECT_CONFIG = """[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-p no:cacheprovider -m 'not slow'"
markers = ["slow: deselected by the project's addopts"]
"""
PROJECT_TESTS = "import pytest\n\ndef test_kept():\n    pass\n\n@pytest.mark.slow\ndef test_deselected():\n    pass\n"


def pytest_command(cwd: Path, *args: str) -> str:
    """Run ``pytest ARGS --collect-only`` in ``cwd`` with this checkout's iwcore; return its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, "-m", "pytest", *args, "--collect-only", "-n", "0"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def setup_of(output: str) -> tuple[str | None, str | None]:
    """The rootdir and config file of pytest's header (one line or two, by pytest version)."""
    rootdir, configfile = (re.search(rf"^(?:rootdir: .*, )?{name}: ([^,\n]+)", output, re.M)
                           for name in ("rootdir", "configfile"))
    return rootdir and rootdir.group(1), configfile and configfile.group(1)


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A project with a config file, a folder beside it and one elsewhere, each holding a (stub) MRPC copy
    that ``--data-dir`` accepts."""
    root = tmp_path_factory.mktemp("rootdir")
    project, beside, outside = root / "project", root / "beside", tmp_path_factory.mktemp("outside")
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PROJECT_CONFIG)
    (project / "tests" / "test_it.py").write_text(PROJECT_TESTS)
    for folder in (beside, outside):
        folder.mkdir(exist_ok=True)
        for name in ("train.tsv", "dev.tsv", "test.tsv"):
            (folder / name).touch()
    return {"project": project, "beside": "../beside", "outside": str(outside)}


@pytest.mark.parametrize("form", ["space", "equals"])
@pytest.mark.parametrize("where", ["beside", "outside"])
@pytest.mark.parametrize("option", PATH_OPTIONS)
def test_a_path_option_keeps_the_rootdir_and_config_file(places, option, where, form):
    value = places[where]
    given = [option, value] if form == "space" else [f"{option}={value}"]
    output = pytest_command(places["project"], *given)
    assert setup_of(output) == (str(places["project"]), "pyproject.toml"), output
    assert "1/2 tests collected (1 deselected)" in output, output  # the config file's addopts applied


def test_the_readmes_full_tier_command_with_data_outside_keeps_the_projects_configuration(tmp_path):
    """``pytest -m full --data-dir DIR`` (README, full tier) from the checkout, DIR outside it."""
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (tmp_path / name).touch()
    output = pytest_command(REPO, "-m", "full", "--data-dir", str(tmp_path))
    assert setup_of(output) == (str(REPO), "pyproject.toml"), output
    assert re.search(r"^testpaths: tests, claims$", output, re.M), output
    assert "<Module test_synthetic.py>" in output and "<Module test_rootdir.py>" not in output, output
