"""Paying for an upgrade from the agent's own wallet (the `autopay` extra).

`Autopay` is what `d.inboxes.create(..., autopay=...)` pays with when the server answers
402: it finds a payment made before (so a crash or a retry never pays twice), or quotes,
signs a USDC transfer locally, sends it, and confirms it with the server. The rails' own
functions are `dispatch_client.autopay.evm` and `dispatch_client.autopay.solana`.
"""

from dispatch_client._errors import AutopayError
from dispatch_client.autopay._flow import Autopay

__all__ = ["Autopay", "AutopayError"]
