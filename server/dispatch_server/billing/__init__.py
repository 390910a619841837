"""Billing: the product catalogue, entitlements and the multi-inbox gate's offer, Stripe
checkout and its webhook, and x402 on-chain payments (quotes and their confirmation)."""
