"""`python -m dispatch_server`: the same as the `dispatch-server` command."""

from dispatch_server._entry import main

if __name__ == "__main__":
    main()
