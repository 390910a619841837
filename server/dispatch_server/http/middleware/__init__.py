"""ASGI middleware, one per file, in the order app.py stacks them."""
