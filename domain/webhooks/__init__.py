"""Webhooks to the customer (SPEC §8.2, issue 16): what the API and the workers share.

:mod:`.events` (the event types and filters), :mod:`.addresses` (which destinations
are refused), :mod:`.signing` (secrets and Standard Webhooks signatures),
:mod:`.store` (an endpoint's stored record).
"""
