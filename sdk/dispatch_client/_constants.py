"""The SDK's defaults and limits, in one place."""

from __future__ import annotations

from dispatch_client._version import __version__

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Seconds for each HTTP request: connecting, and each read or write.
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
USER_AGENT = f"dispatch-python/{__version__}"

# Page sizes the server accepts on every list route.
DEFAULT_LIMIT = 50
MAX_LIMIT = 100

# One wait request lasts at most this long: below the 30 s idle limit of common proxies and
# load balancers. The server caps a request at its own maximum (default 60 s) anyway.
WAIT_ROUND_SECONDS = 25.0
# An older server answers 400 to a round above its maximum: rounds are halved down to this.
WAIT_MIN_ROUND_SECONDS = 1.0
# Extra read time over a round's own timeout, so the client never cuts a long poll short.
WAIT_READ_MARGIN = 10.0

# Retries: these statuses mean the server did not process the request.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
BASE_DELAY = 0.5
MAX_DELAY = 8.0
# A Retry-After beyond this is not waited for: the error is raised at once (a daily quota
# says hours). One in the past or unreadable is ignored: normal backoff applies instead.
MAX_RETRY_AFTER = 60.0
