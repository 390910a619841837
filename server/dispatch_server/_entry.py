"""The `dispatch-server` command, which `pip install dispatch-client` installs even without
the `server` extra: so this module imports nothing of the server's dependencies until it has
checked that they are there, and otherwise says how to get them in one line.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

SERVER_MODULES = (
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "aiosmtpd",
    "asyncpg",
    "aiosqlite",
    "boto3",
    "cryptography",
    "prometheus_client",
    "dns",
    "spf",
    "publicsuffixlist",
)
HINT = (
    "dispatch-server: the server is not installed; "
    "install it with: pip install 'dispatch-client[server]'"
)


def main() -> None:
    if any(find_spec(module) is None for module in SERVER_MODULES):
        print(HINT, file=sys.stderr)
        sys.exit(1)
    from dispatch_server.cli import main as cli_main

    cli_main()
