"""The Python client of batchdial's HTTP API::

    from batchdial.client import Client, ApiError

    with Client("http://127.0.0.1:8000", api_key="bd_...") as client:
        job = client.create_job({...})
        client.start_job(job["id"])
        for event in client.events(job["id"]):
            ...

``AsyncClient`` is its asyncio twin for the job routes. See docs/clients.md.
"""

from batchdial.client.aio import AsyncClient
from batchdial.client.errors import ApiError
from batchdial.client.retrying import NO_RETRIES, Retries
from batchdial.client.sync import Client

__all__ = ["NO_RETRIES", "ApiError", "AsyncClient", "Client", "Retries"]
