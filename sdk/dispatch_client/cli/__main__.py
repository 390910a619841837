"""`python -m dispatch_client.cli`, the same as `dispatch`."""

from dispatch_client.cli._app import run

run()
