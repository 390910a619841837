"""Shared fixtures: every backend test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest

from dispatch_server.app import create_app
from dispatch_server.auth import wallets
from dispatch_server.cli._common import http_server
from dispatch_server.config import Settings
from dispatch_server.db import Database
from dispatch_server.events.hub import Hub
from dispatch_server.migrations import upgrade
from dispatch_server.services import Services
from tests import pg, redis_server
from tests.aws import aws_credentials, inbound, moto, moto_server
from tests.chain.evm import evm_chain
from tests.dns_server import shared_dns
from tests.stripe_server import stripe_server

__all__ = [  # fixtures
    "aws_credentials",
    "evm_chain",
    "inbound",
    "moto",
    "moto_server",
    "shared_dns",
    "stripe_server",
]

# The tests that sign with eth-account import it at collection: through the server's own
# import, so that py_ecc leaves Python's recursion limit alone in this process, whose servers
# run in threads (see dispatch_server.auth.wallets).
wallets.available()

INBOUND_TOKEN = "test-inbound-token"
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    url, cluster = pg.find_server()
    yield url
    if cluster is not None:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server (tests/redis_server.py): the machine's, or a throwaway one."""
    url, server = redis_server.find_server()
    yield url
    if server is not None:
        server.stop()


def fresh_database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "dispatch.db"
        url = f"sqlite+aiosqlite:///{path}"
        asyncio.run(upgrade(url))
        yield url
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    name, url = pg.create_database(admin_url)
    asyncio.run(upgrade(url))
    yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
    pg.drop_database(admin_url, name)


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated, empty database for one test."""
    yield from fresh_database_url(request.param, tmp_path_factory, request)


def make_settings(database_url: str, **variables: object) -> Settings:
    """Test settings, read like the server reads them; `variables` override the environment
    variables of the same names (DISPATCH_DAILY_INBOUND_QUOTA=2...)."""
    env = {
        "DISPATCH_ENV": "test",
        "DATABASE_URL": database_url,
        "DISPATCH_INBOX_DOMAIN": "dispatch.test",
        "DISPATCH_INBOUND_TOKEN": INBOUND_TOKEN,
        "DISPATCH_SMTP_PORT": "0",
        "DISPATCH_HTTP_PORT": "0",
        "DISPATCH_WAIT_LOOKBACK_SECONDS": "600",
        # The SMTP door's SPF/DKIM/DMARC checks ask the tests' own DNS server, never the
        # machine's: unknown names are NXDOMAIN at once.
        "DISPATCH_DNS_SERVER": shared_dns().address,
        # Tests share one client address and sign up at will; tests/server/api/
        # test_rate_limits.py turns the limits on.
        "DISPATCH_RATE_LIMITS": "false",
    }
    env.update({name: str(value) for name, value in variables.items()})
    return Settings.from_env(env)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def services(db: Database, hub: Hub, database_url: str) -> Services:
    """The services of a test process, on a fresh database (nothing listens for other
    processes' wake-ups)."""
    return Services(settings=make_settings(database_url), db=db, hub=hub)


@attrs.frozen
class LiveServer:
    base_url: str
    smtp_host: str
    smtp_port: int
    settings: Settings
    database_url: str


class _ServerThread:
    """The whole app (API + SMTP listener) on its own event loop in a thread, on free ports,
    served the way `dispatch-server serve` serves it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings, with_smtp=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = http_server(self.app, settings.http)  # as `dispatch-server serve` runs it
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> LiveServer:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                break
            if not self.thread.is_alive():
                raise RuntimeError("test server failed to start")
            threading.Event().wait(0.02)
        else:
            raise RuntimeError("test server did not start in 10 s")
        smtp_host, smtp_port = self.app.state.smtp_server.sockets[0].getsockname()[:2]
        return LiveServer(
            base_url=f"http://127.0.0.1:{self.port}",
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            settings=self.settings,
            database_url=self.settings.storage.database_url,
        )

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A running server on each backend, shared by a test module (tests sign up their own
    workspaces, so they do not see each other's data)."""
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    url = next(urls)
    thread = _ServerThread(make_settings(url))
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


@pytest.fixture
def corpus_dir() -> Path:
    return Path(__file__).parent / "corpus"
