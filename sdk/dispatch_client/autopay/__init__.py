"""Paying for Dispatch products from a wallet the agent holds (x402)."""
