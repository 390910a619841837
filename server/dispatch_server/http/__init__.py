"""The HTTP door: representations, parameters, endpoints, error mapping, middleware, and
the OpenAPI document. Resource modules (dispatch_server.api) are written in its terms."""
