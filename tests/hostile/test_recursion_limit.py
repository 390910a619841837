"""The guards against hostile nesting rely on Python's recursion limit (1,000 frames) raising
RecursionError long before the C stack ends. A dependency that raises the limit for the
whole process (py_ecc, under eth-account, sets 100,000 at import) turns such input into a
SIGSEGV of the server. Each case runs in a fresh process, so no earlier import hides it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Each prints the recursion limit after the server's wallet support is loaded, then feeds the
# server's own parsers input nested far past any limit: they must refuse it, not crash.
CASES = {
    "a JSON body": """
        from dispatch_server.http.params import parse_json_object
        try:
            parse_json_object(b'{"a":' + b'[' * 200_000 + b']' * 200_000 + b'}')
        except Exception as exc:
            print(type(exc).__name__)
    """,
    "an address header": """
        from dispatch_server.mail.addresses import parse_addresses
        try:
            parse_addresses(["(" * 10_000 + "a@x.test" + ")" * 10_000], header="From")
        except Exception as exc:
            print(type(exc).__name__)
    """,
    "a whole message": """
        from dispatch_server.mail.parse import parse_message
        raw = b"From: " + b"(" * 10_000 + b"a@x.test" + b")" * 10_000 + b"\\r\\n\\r\\nhi"
        try:
            parse_message(raw, max_parts=200, max_depth=10)
        except Exception as exc:
            print(type(exc).__name__)
    """,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_wallet_support_leaves_the_recursion_limit_and_nesting_is_refused(case: str) -> None:
    script = textwrap.dedent(
        """
        import sys
        from dispatch_server.auth import wallets
        assert wallets.available()
        wallets._eth_account()  # as an EVM wallet claim loads it
        print(sys.getrecursionlimit())
        """
    ) + textwrap.dedent(CASES[case])
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    limit, refusal = result.stdout.split()
    assert limit == "1000"
    assert refusal in ("InvalidInput", "UnreadableAddresses", "HeaderlessMessage"), refusal
