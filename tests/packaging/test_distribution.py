"""The built sdist and wheel, and what `pip install dispatch-client` (no extra) gives a user."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import attrs
import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).parents[2]


def source_version() -> str:
    """The version as written in its one place, sdk/dispatch_client/_version.py."""
    text = (ROOT / "sdk" / "dispatch_client" / "_version.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match is not None, text
    return match.group(1)


VERSION = source_version()
# The `server` extra, as distributions and as the modules they install.
SERVER_DISTRIBUTIONS = {
    "starlette",
    "uvicorn",
    "httptools",
    "sqlalchemy",
    "alembic",
    "aiosmtpd",
    "asyncpg",
    "aiosqlite",
    "boto3",
    "cryptography",
    "prometheus-client",
    "dnspython",
    "pynacl",
    "pyspf",
    "publicsuffixlist",
    "redis",
    "argon2-cffi",
    "pyjwt",
    "stripe",
    "jinja2",
    "nh3",
    "mcp",
}
# The module each distribution installs, where its name differs.
MODULE_OF = {
    "dnspython": "dns",
    "pynacl": "nacl",
    "argon2-cffi": "argon2",
    "pyjwt": "jwt",
    "pyspf": "spf",
    "prometheus-client": "prometheus_client",
}
SERVER_MODULES = sorted(MODULE_OF.get(name, name) for name in SERVER_DISTRIBUTIONS)
HINT = (
    "dispatch-server: the server is not installed; "
    "install it with: pip install 'dispatch-client[server]'\n"
)


@attrs.frozen
class Built:
    sdist: Path
    wheel: Path


@attrs.frozen
class Installed:
    python: Path
    scripts: Path
    site_packages: Path


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Nothing of the development environment leaks in: only what was installed counts.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def check(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist, and the wheel built from it (which shows the sdist has what a build needs)."""
    out = tmp_path_factory.mktemp("dist")
    check(run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, cwd=out))
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Built(sdist=sdist, wheel=wheel)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh venv with the wheel installed without extras (httpx etc. come from the index)."""
    home = tmp_path_factory.mktemp("user")
    venv = home / "venv"
    check(run(sys.executable, "-m", "venv", venv, cwd=home))
    python = venv / "bin" / "python"
    check(run(python, "-m", "pip", "install", "--quiet", built.wheel, cwd=home))
    site_packages = Path(
        check(
            run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=home)
        ).strip()
    )
    return Installed(python=python, scripts=venv / "bin", site_packages=site_packages)


def test_wheel_and_sdist_are_named_for_the_distribution(built: Built) -> None:
    assert built.wheel.name == f"dispatch_client-{VERSION}-py3-none-any.whl"
    assert built.sdist.name == f"dispatch_client-{VERSION}.tar.gz"


def test_wheel_holds_both_packages_with_their_data_files(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
    dist_info = f"dispatch_client-{VERSION}.dist-info"
    assert {name.split("/")[0] for name in names} == {
        "dispatch_client",
        "dispatch_server",
        dist_info,
    }
    # Every source file of both packages, including the non-Python ones.
    for package in (ROOT / "sdk" / "dispatch_client", ROOT / "server" / "dispatch_server"):
        for path in package.rglob("*"):
            if path.suffix in {".py", ".mako", ".typed", ".md", ".html", ".css", ".svg"}:
                assert path.relative_to(package.parent).as_posix() in names
    assert "dispatch_client/py.typed" in names
    migrations = "dispatch_server/migrations/"
    assert {f"{migrations}env.py", f"{migrations}script.py.mako"} <= names
    assert any(re.fullmatch(f"{migrations}versions/0001_[a-z_]+\\.py", name) for name in names)
    assert f"{dist_info}/licenses/LICENSE" in names


def test_wheel_metadata(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        dist_info = f"dispatch_client-{VERSION}.dist-info"
        metadata = email.message_from_bytes(wheel.read(f"{dist_info}/METADATA"))
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert metadata["Name"] == "dispatch-client"
    assert metadata["Version"] == VERSION
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "MIT"
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])
    assert metadata["Description-Content-Type"] == "text/markdown"

    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist", [])]
    always = {req.name for req in requirements if req.marker is None}
    with_server = {
        req.name
        for req in requirements
        if req.marker is not None
        and req.marker.evaluate({"extra": "server"})
        and not req.marker.evaluate({"extra": ""})
    }
    with_mcp = {
        f"{req.name}{req.specifier}"
        for req in requirements
        if req.marker is not None
        and req.marker.evaluate({"extra": "mcp"})
        and not req.marker.evaluate({"extra": ""})
    }
    assert always == {"httpx", "attrs", "cattrs", "click", "rich", "platformdirs", "tomli-w"}
    assert with_server == SERVER_DISTRIBUTIONS
    assert with_mcp == {"mcp>=2.3"}

    assert "dispatch-server = dispatch_server._entry:main" in entry_points
    assert "dispatch = dispatch_client.cli:run" in entry_points


def test_sdist_holds_the_sources_and_the_project_files(built: Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = set(sdist.getnames())
    top = f"dispatch_client-{VERSION}"
    for name in [
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "pyproject.toml",
        "PKG-INFO",
        "sdk/dispatch_client/__init__.py",
        "sdk/dispatch_client/_version.py",
        "sdk/dispatch_client/py.typed",
        "server/dispatch_server/_entry.py",
        "server/dispatch_server/migrations/script.py.mako",
    ]:
        assert f"{top}/{name}" in names


def test_installed_sdk_imports_and_reports_the_version(installed: Installed) -> None:
    out = check(
        run(
            installed.python,
            "-c",
            "import importlib.metadata, dispatch_client; "
            "print(dispatch_client.__version__); "
            "print(importlib.metadata.version('dispatch-client')); "
            "print(dispatch_client.__file__)",
            cwd=installed.scripts,
        )
    )
    version, dist_version, location = out.splitlines()
    assert version == dist_version == VERSION
    package = Path(location).parent
    assert package == installed.site_packages / "dispatch_client"
    assert (package / "py.typed").is_file()


def test_installed_without_the_extra_has_none_of_the_server_dependencies(
    installed: Installed,
) -> None:
    out = check(
        run(
            installed.python,
            "-c",
            "import importlib.util, sys; "
            "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m)))",
            *SERVER_MODULES,
            cwd=installed.scripts,
        )
    )
    assert out.split() == []


@pytest.mark.parametrize(
    "command",
    [["dispatch-server"], ["dispatch-server", "dev"], ["python", "-m", "dispatch_server", "serve"]],
)
def test_server_command_without_the_extra_says_how_to_install_it(
    installed: Installed, command: list[str]
) -> None:
    program = installed.scripts / command[0]
    result = run(program, *command[1:], cwd=installed.scripts)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", HINT)


def test_server_command_with_the_server_installed_runs_the_cli() -> None:
    result = run(sys.executable, "-m", "dispatch_server", "--help", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dispatch-server ")


def test_the_mcp_command_without_the_extra_says_how_to_install_it(installed: Installed) -> None:
    """The plain install has no `mcp`: `dispatch mcp` says which extra to install (and the
    rest of the CLI works, below)."""
    result = run(installed.scripts / "dispatch", "mcp", cwd=installed.scripts)
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.startswith(
        "error: the MCP server needs the mcp extra: pip install 'dispatch-client[mcp]'\n"
    )


def test_the_cli_runs_from_a_plain_install(installed: Installed) -> None:
    program = installed.scripts / "dispatch"
    version = run(program, "--version", cwd=installed.scripts)
    assert (version.returncode, version.stdout) == (0, f"dispatch, version {VERSION}\n")
    guide = run(program, "guide", cwd=installed.scripts)
    assert guide.returncode == 0 and guide.stdout.startswith("# Dispatch for agents")
    unreachable = run(program, "--base-url", "http://127.0.0.1:9", "signup", cwd=installed.scripts)
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("error: cannot reach the server at http://127.0.0.1:9")


def test_the_entry_point_checks_only_modules_the_server_extra_installs() -> None:
    """`dispatch-server` refuses to start when one of these is missing: each must come
    with `dispatch-client[server]` (a module dropped from the extra but left here made a
    fresh install refuse to start)."""
    from dispatch_server import _entry

    assert set(_entry.SERVER_MODULES) <= set(SERVER_MODULES)
