"""`dispatch-server`: serve | smtp | worker | migrate | dev | local-aws | loadtest. One module
per command."""

from __future__ import annotations

import argparse
import sys

from dispatch_server.cli import dev, loadtest, local_aws, migrate, serve, smtp, worker
from dispatch_server.cli._common import CliError, configure_logging, read_settings

COMMANDS = (serve, smtp, worker, migrate, dev, local_aws, loadtest)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="dispatch-server",
        description="The Dispatch reference server. Settings come from the environment "
        "(see docs/server.md); flags override them.",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        configure_logging(read_settings({}).runtime.log_level)
        args.run(args)
    except CliError as error:
        sys.exit(f"dispatch-server: {error}")
    except KeyboardInterrupt:  # a Ctrl-C before the servers took over the signals
        sys.exit(130)
