"""The image's HEALTHCHECK: exit 0 when the API in this container answers `GET /health` with
200, else 1. Only the standard library (the image has no curl). The port is the API's,
`DISPATCH_HTTP_PORT` (the image's default 8080); a container running `smtp` or `worker`
serves no HTTP, so its service (compose, ECS) sets a check of its own or none."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3.0


def main() -> int:
    port = os.environ.get("DISPATCH_HTTP_PORT", "8080")
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status: int = response.status
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"healthcheck: {url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
