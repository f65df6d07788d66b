"""ASGI middleware of the API, one a file: the body size limit and request metrics."""
