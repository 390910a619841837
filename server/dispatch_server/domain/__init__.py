"""Transaction functions: each takes a connection and plain values, returns typed records,
and raises domain errors (dispatch_server.core.errors). No HTTP here."""
