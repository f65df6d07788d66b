"""The HTTP edge of the producer: the app factory, its dependencies, routes, middleware.

Nothing here decides anything about jobs: every route parses, authorises and hands
over to :class:`producer.service.Producer` (or, for provider callbacks,
:class:`domain.dials.DialEnds`).
"""
