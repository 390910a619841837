"""The outbound tests use the moto fixtures of tests/aws.py (registered by tests/conftest.py)."""

from tests.aws import free_port

__all__ = ["free_port"]
