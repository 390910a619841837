"""The container image's commands, run without a Docker engine: a fresh virtualenv built from
the wheels exactly as infra/Dockerfile builds them (its two scripts), with the image's `ENV`
and each compose.yaml service's environment, pointed at a real PostgreSQL and a moto server
instead of the compose hosts. `migrate`, `serve` (with the image's HEALTHCHECK), `smtp` and
`worker` must each start in production mode and do their job."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import pytest
import yaml

from tests import pg
from tests.aws import free_port

ROOT = Path(__file__).parents[2]
INFRA = ROOT / "infra"
START_SECONDS = 60.0
# Where the image installs the app; the test's virtualenv stands in for it.
IMAGE_VENV = "/opt/dispatch"


@attrs.frozen
class Image:
    venv: Path
    env: dict[str, str]  # the Dockerfile's ENV, with the virtualenv for /opt/dispatch
    timings: dict[str, float]


def image_env(dockerfile: str, venv: Path) -> dict[str, str]:
    """The `ENV` instructions of the Dockerfile's last stage, as a dict."""
    text = dockerfile.replace("\\\n", " ")
    last_stage = text[text.rindex("\nFROM ") :]
    env: dict[str, str] = {}
    for line in last_stage.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                name, value = pair.split("=", 1)
                env[name] = value.replace(IMAGE_VENV, str(venv))
    return env


def clean_environ() -> dict[str, str]:
    """This machine's environment without the development tree or any AWS setup."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    return {
        key: value
        for key, value in os.environ.items()
        if key not in drop and not key.startswith(("AWS_", "DISPATCH_")) and key != "DATABASE_URL"
    }


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def check(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """Stage 1 (build-wheels.sh) and stage 2 (install-wheels.sh) of the Dockerfile, each run by
    the python of a fresh virtualenv, as the base image's would."""
    home = tmp_path_factory.mktemp("image")
    base = home / "base"
    check(run([sys.executable, "-m", "venv", str(base)], clean_environ(), home))
    env = clean_environ() | {"PATH": f"{base / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    timings: dict[str, float] = {}
    started = time.monotonic()
    check(run(["sh", str(INFRA / "build-wheels.sh"), str(ROOT), str(home / "wheels")], env, home))
    timings["build wheels"] = time.monotonic() - started
    venv = home / "opt-dispatch"
    started = time.monotonic()
    check(run(["sh", str(INFRA / "install-wheels.sh"), str(home / "wheels"), str(venv)], env, home))
    timings["install wheels"] = time.monotonic() - started
    return Image(
        venv=venv, env=image_env((INFRA / "Dockerfile").read_text(), venv), timings=timings
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((INFRA / "compose.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def database(postgres_admin_url: str) -> Iterator[str]:
    name, url = pg.create_database(postgres_admin_url)
    yield url
    pg.drop_database(postgres_admin_url, name)


def expand(value: str) -> str:
    """Compose's `${NAME:-default}`, with nothing of NAME in this environment."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def service_env(
    image: Image, compose: dict[str, Any], service: str, database: str, moto: str | None = None
) -> dict[str, str]:
    """What a container of the service sees: the image's ENV, then the service's environment,
    with the compose hosts (postgres, moto) replaced by this test's."""
    env = clean_environ() | image.env
    for name, value in compose["services"][service]["environment"].items():
        value = expand(str(value))
        if name == "DATABASE_URL":
            assert value.startswith("postgresql://"), value
            value = database
        if moto is not None:
            value = value.replace("http://moto:5000", moto)
        env[name] = value
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = "/nonexistent/aws-config"
    env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/aws-credentials"
    return env


def command(image: Image, compose: dict[str, Any], service: str) -> list[str]:
    """The container's command line: ENTRYPOINT `dispatch-server` and the service's command."""
    return [str(image.venv / "bin" / "dispatch-server"), *compose["services"][service]["command"]]


def fetch(database: str, query: str) -> list[asyncpg.Record]:
    async def go() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(query)
            return rows
        finally:
            await conn.close()

    return asyncio.run(go())


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def wait_for(what: str, process: subprocess.Popen[bytes], ready: Any, log: Path) -> float:
    """Seconds until ready() is true; fails if the process exits or START_SECONDS pass."""
    started = time.monotonic()
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() - started > START_SECONDS:
            process.kill()
            pytest.fail(f"{what} not ready in {START_SECONDS:.0f} s:\n{log.read_text()}")
        time.sleep(0.1)
    return time.monotonic() - started


def test_the_image_has_one_entrypoint_and_serves_by_default() -> None:
    text = (INFRA / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["dispatch-server"]' in text
    assert text.rstrip().endswith('CMD ["serve"]')
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/opt/dispatch/healthcheck.py" in text


def test_migrate_then_serve_answers_health_and_ready(
    image: Image, compose: dict[str, Any], database: str, tmp_path: Path
) -> None:
    env = service_env(image, compose, "migrate", database)
    assert env["DISPATCH_ENV"] == "production"
    started = time.monotonic()
    check(run(command(image, compose, "migrate"), env, tmp_path))
    image.timings["migrate"] = time.monotonic() - started
    check(run(command(image, compose, "migrate"), env, tmp_path))  # a second run: nothing to do
    (version,) = fetch(database, "SELECT version_num FROM alembic_version")
    assert re.fullmatch(r"\d{4}", version["version_num"][:4]), version

    env = service_env(image, compose, "api", database)
    port = free_port()
    env["DISPATCH_HTTP_PORT"] = str(port)  # the container's 8080, on a free port here
    env["DISPATCH_HTTP_HOST"] = "127.0.0.1"
    healthcheck = [str(image.venv / "bin" / "python"), str(INFRA / "healthcheck.py")]
    assert run(healthcheck, env, tmp_path).returncode == 1  # nothing listens yet

    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command(image, compose, "api"), env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        image.timings["serve to healthy"] = wait_for(
            "serve",
            process,
            lambda: run(healthcheck, env, tmp_path).returncode == 0,
            log,
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {"status": "ready"}
    finally:
        # uvicorn, once it has shut down gracefully, raises the SIGTERM again: a container's
        # exit status 143, which ECS and compose take as a normal stop.
        assert stop(process) in (0, -signal.SIGTERM), log.read_text()
    assert "GET /health 200" in log.read_text()


def smtp_banner(port: int) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            banner = sock.recv(512)
            sock.sendall(b"QUIT\r\n")
            return banner
    except OSError:
        return b""


def test_smtp_greets(image: Image, compose: dict[str, Any], database: str, tmp_path: Path) -> None:
    check(
        run(
            command(image, compose, "migrate"),
            service_env(image, compose, "migrate", database),
            tmp_path,
        )
    )
    env = service_env(image, compose, "smtp", database)
    port = free_port()
    env["DISPATCH_SMTP_PORT"] = str(port)
    env["DISPATCH_SMTP_HOST"] = "127.0.0.1"
    log = tmp_path / "smtp.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command(image, compose, "smtp"), env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        image.timings["smtp to greeting"] = wait_for(
            "smtp", process, lambda: smtp_banner(port).startswith(b"220 "), log
        )
        assert env["DISPATCH_SMTP_HOSTNAME"].encode() in smtp_banner(port)
    finally:
        assert stop(process) == 0, log.read_text()


def test_worker_reads_the_queue_local_aws_set_up(
    image: Image, compose: dict[str, Any], database: str, moto: str, tmp_path: Path
) -> None:
    check(
        run(
            command(image, compose, "migrate"),
            service_env(image, compose, "migrate", database),
            tmp_path,
        )
    )
    setup_env = service_env(image, compose, "aws-setup", database, moto)
    printed = check(run(command(image, compose, "aws-setup"), setup_env, tmp_path))
    env = service_env(image, compose, "worker", database, moto)
    # compose.yaml names the queue local-aws setup makes
    assert f"export DISPATCH_SQS_QUEUE_URL={env['DISPATCH_SQS_QUEUE_URL']}\n" in printed
    env["DISPATCH_WORKER_WAIT_SECONDS"] = "1"
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command(image, compose, "worker"), env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        image.timings["worker to heartbeat"] = wait_for(
            "worker",
            process,
            lambda: bool(fetch(database, "SELECT 1 FROM dispatch_worker_heartbeats")),
            log,
        )
        # A message for no inbox here, stored as SES would: the worker takes it off the queue
        # and records why it dropped it.
        raw = tmp_path / "mail.eml"
        raw.write_bytes(
            b"From: a@example.com\r\nTo: nobody@dispatch.localhost\r\n"
            b"Subject: hi\r\nMessage-ID: <1@example.com>\r\n\r\nhello\r\n"
        )
        deliver = [*command(image, compose, "aws-setup")[:-1], "deliver"]
        check(run([*deliver, "--to", "nobody@dispatch.localhost", str(raw)], setup_env, tmp_path))
        wait_for(
            "worker",
            process,
            lambda: bool(fetch(database, "SELECT 1 FROM inbound_rejections")),
            log,
        )
    finally:
        assert stop(process) == 0, log.read_text()


def test_report_timings(image: Image) -> None:
    """Last in the module: how long each step took (shown with -s), and that all ran."""
    assert {"build wheels", "install wheels", "migrate", "serve to healthy"} <= set(image.timings)
    for what, seconds in image.timings.items():
        print(f"image: {what}: {seconds:.2f} s")
