"""`make` with a Python it cannot use: one line saying so, and no broken .venv left behind.

The interpreters here are shell scripts that report a version and fake `-m venv`, so these
tests run in a copy of the Makefile in a temporary directory and install nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

FAKE_PYTHON = """#!/bin/sh
case "$1" in
  -V|--version) echo "Python {version}" ;;
  -m)
    [ "$2" = venv ] || exit 1
    mkdir -p "$3/bin"
    printf '#!/bin/sh\\nexit 1\\n' > "$3/bin/python"  # the venv's pip never works
    chmod +x "$3/bin/python"
    exit {venv_status} ;;
  *) exit 1 ;;
esac
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, project / name)
    return project


def fake_python(directory: Path, name: str, version: str, venv_status: int = 0) -> Path:
    path = directory / name
    path.write_text(FAKE_PYTHON.format(version=version, venv_status=venv_status))
    path.chmod(0o755)
    return path


def make(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Not the settings of a `make` that may be running these tests.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VENV"}
    }
    make_program = shutil.which("make")
    assert make_program is not None, "the tests need `make`"
    return subprocess.run(
        [make_program, *args, "VENV=.venv"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("target", [[], ["install"], ["test"], ["dev"]])
def test_an_old_python_is_refused_before_any_venv_is_made(
    project: Path, tmp_path: Path, target: list[str]
) -> None:
    python = fake_python(tmp_path, "python3.9", "3.9.18")
    result = make(project, *target, f"PYTHON={python}")
    assert result.returncode != 0
    expected = f"Dispatch needs Python 3.11 or newer; found 3.9 at {python}; set PYTHON=python3.11"
    assert expected in result.stderr.splitlines()
    assert "venv" not in result.stdout
    assert not (project / ".venv").exists()


def test_a_missing_python_is_named(project: Path) -> None:
    result = make(project, "install", "PYTHON=no-such-python3.11")
    assert result.returncode != 0
    expected = (
        "Dispatch needs Python 3.11 or newer; found no Python at no-such-python3.11;"
        " set PYTHON=python3.11"
    )
    assert expected in result.stderr.splitlines()
    assert not (project / ".venv").exists()


@pytest.mark.parametrize("venv_status", [1, 0], ids=["venv fails", "pip install fails"])
def test_a_failed_first_install_removes_the_venv(
    project: Path, tmp_path: Path, venv_status: int
) -> None:
    python = fake_python(tmp_path, "python3.12", "3.12.1", venv_status)
    result = make(project, "install", f"PYTHON={python}")
    assert result.returncode != 0
    assert "removed the unfinished .venv" in result.stderr
    assert not (project / ".venv").exists()


def test_a_failed_reinstall_keeps_the_venv_an_earlier_make_finished(
    project: Path, tmp_path: Path
) -> None:
    installed = project / ".venv" / "bin" / ".installed"
    installed.parent.mkdir(parents=True)
    installed.touch()
    pyproject_mtime = (project / "pyproject.toml").stat().st_mtime
    os.utime(installed, (pyproject_mtime - 60, pyproject_mtime - 60))  # pyproject changed since
    python = fake_python(tmp_path, "python3.12", "3.12.1")
    result = make(project, "install", f"PYTHON={python}")
    assert result.returncode != 0
    assert "removed" not in result.stderr
    assert installed.exists()
    assert installed.stat().st_mtime < pyproject_mtime  # so the next `make` tries again
