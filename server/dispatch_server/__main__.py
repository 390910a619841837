"""`python -m dispatch_server`: the `dispatch-server` command."""

from dispatch_server.cli import main

main()
