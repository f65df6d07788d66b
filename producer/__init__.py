"""The producer: validates and stores jobs, runs their lifecycle commands, serves HTTP.

Other services use :class:`producer.service.Producer` directly; the HTTP API
(:mod:`producer.http`, built by :func:`producer.http.app.create_app`) is a thin layer
over it, and :mod:`producer.schemas` holds the request and response models of both.
The producer never imports the worker.
"""
