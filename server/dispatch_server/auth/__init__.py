"""Who is calling and what they may touch: principals, API keys, the scope policy, and the
Starlette authentication backends that put the principal on the request."""
