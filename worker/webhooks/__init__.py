"""Webhook delivery on the workers (issue 16): the fan-out of a workspace's outbox into
deliveries (:mod:`.fanout`), and their attempts on the process's event loop
(:mod:`.delivery`), run by the ``batchdial.webhooks`` actor (queue ``webhooks``).
"""
