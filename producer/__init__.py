"""The producer: validates and stores jobs, runs their lifecycle commands, serves HTTP.

Other services use :class:`producer.service.Producer` directly; the HTTP API in
:mod:`producer.api` is a thin layer over it. The producer never imports the worker.
"""
