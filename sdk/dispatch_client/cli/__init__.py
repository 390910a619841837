"""The `dispatch` command: Dispatch from a shell, for agents and operators.

A thin local state layer over the SDK (no second HTTP client, no business rules of its own):
it stores a key and the selected inbox in `dispatch/config.toml` (see `_config`), resolves
what each command acts on (`_session`), calls the SDK, and prints the result as JSON or a
table (`_output`). Failures become one line, a hint and a documented exit status
(`_errors`). One module per command group: auth, inbox, mail, memory, billing.
"""

from dispatch_client.cli._app import cli, main, run

__all__ = ["cli", "main", "run"]
