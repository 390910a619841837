"""Paying x402 quotes from the SDK: `autopay.evm` for EVM chains (the `autopay` extra)."""
