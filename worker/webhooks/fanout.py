"""The fan-out: a workspace's outbox entries become one delivery per matching endpoint.

The event scripts copy every event of a workspace with endpoints into its outbox
stream, in the same script as the event (``emit`` in ``domain/lua/_lib.lua``). Here a
worker reads the entries after the workspace's cursor, matches them against the
endpoints' filters, and ``wh_fanout.lua`` writes the deliveries, makes them due and
moves the cursor in one step, with a compare-and-set on the cursor: a worker that dies
before the script loses nothing (the entries are still after the cursor), and two
workers fanning out the same entries make each delivery once.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from domain.keys import Keys
from domain.protocol import parse_wh_fanout
from domain.scripts import Scripts
from domain.time.timefmt import iso_ms
from domain.webhooks.events import matches

#: Stream entries as the decoding client returns them.
Entries = list[tuple[str, dict[str, str]]]
#: Outbox entries read per fan-out step.
BATCH = 200


def stream_ms(entry_id: str) -> int:
    """The milliseconds part of a stream entry id."""
    return int(entry_id.partition("-")[0])


def delivery_id(outbox_id: str, endpoint_id: str) -> str:
    """The delivery's id, also its ``webhook-id``: the same on every attempt. Padded so
    that the due index, which orders ties by member, takes one endpoint's deliveries
    in the order of the events."""
    ms, _, seq = outbox_id.partition("-")
    return f"msg_{int(ms):013d}{int(seq):06d}_{endpoint_id}"


def payload(event_id: str, body: str) -> tuple[str, str]:
    """``(type, JSON body)`` sent for one event: ``{"type", "timestamp", "data"}`` with the
    event as ``GET /api/jobs/{id}/events`` shows it (``id`` and ``at`` first)."""
    event: dict[str, Any] = json.loads(body)
    at = iso_ms(stream_ms(event_id))
    data = {"id": event_id, "at": at, **event}
    kind = str(event.get("type", ""))
    text = json.dumps({"type": kind, "timestamp": at, "data": data}, separators=(",", ":"))
    return kind, text


class Fanout:
    """Fans out the outbox of each workspace with endpoints."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._scripts = Scripts(client, "engine")

    def workspaces(self) -> list[str]:
        """Workspaces that have (or had) webhook endpoints."""
        return sorted(str(ws) for ws in self._r.smembers(self._k.ns_key("K_WH_WS")))

    def run(self, ws_id: str, max_steps: int = 20, batch: int = BATCH) -> int:
        """Fan out what the workspace's outbox holds (at most ``max_steps`` batches of
        ``batch`` entries); returns the deliveries made."""
        total = 0
        cur_key = self._k.ws_key(ws_id, "K_WH_CUR")
        outbox = self._k.ws_key(ws_id, "K_WH_OUT")
        for _ in range(max_steps):
            cursor = str(self._r.get(cur_key) or "")
            start = f"({cursor}" if cursor else "-"
            entries = cast(Entries, self._r.xrange(outbox, start, "+", count=batch))
            if not entries:
                return total
            endpoints = [json.loads(raw) for raw in self._r.hvals(self._k.ws_key(ws_id, "K_WH"))]
            # Disabled endpoints take nothing: an outbox of only those is just moved past.
            endpoints = [ep for ep in endpoints if ep.get("enabled")]
            keys = [cur_key, self._k.ns_key("K_WH_DUE"), outbox]
            args: list[str] = [cursor, str(entries[-1][0]), ws_id]
            for entry_id, fields in entries:
                if not endpoints:
                    break
                kind, text = payload(fields["i"], fields["e"])
                for ep in endpoints:
                    if int(ep["createdAt"]) > stream_ms(entry_id):
                        continue
                    if not matches(ep["events"], kind):
                        continue
                    did = delivery_id(entry_id, ep["id"])
                    keys.append(self._k.ws_key(ws_id, "k_wh_dlv", did))
                    keys.append(self._k.ws_key(ws_id, "k_wh_q", ep["id"]))
                    args += [did, ep["id"], fields.get("j", ""), fields["i"], kind, text]
            made = parse_wh_fanout(self._scripts("wh_fanout", keys, args))
            if made is None:  # another worker fanned these out first
                return total
            total += made
            if len(entries) < batch:
                return total
        return total
