"""The OpenAPI 3.1 document, assembled from the endpoints' declarations and their shapes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dispatch_client._version import __version__
from dispatch_server.http.endpoints import Endpoint, documented_path
from dispatch_server.http.errors import Error
from dispatch_server.http.shapes import SchemaRegistry

Schema = dict[str, Any]


def document(endpoints: Iterable[Endpoint]) -> Schema:
    schemas = SchemaRegistry()
    schemas.ref(Error)
    paths: dict[str, dict[str, Schema]] = {}
    for endpoint in endpoints:
        paths.setdefault(documented_path(endpoint.path), {})[endpoint.method.lower()] = (
            endpoint.operation(schemas)
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dispatch API",
            "version": __version__,
            "description": "Email inboxes as an API for AI agents.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "<key_id>.<secret>, an account or an inbox key",
                },
                "operatorToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "an operator's session token, from /auth/signup or /auth/login",
                },
                "inboundToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-dispatch-inbound-token",
                },
                "opsToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-dispatch-ops-token",
                },
            },
        },
    }
