"""Webhooks that other systems call: the dev inbound door (later SNS and Stripe)."""
