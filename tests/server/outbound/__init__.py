"""Outbound mail: transports, and the provider feedback that comes back."""
