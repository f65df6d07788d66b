"""One dial with what its agent needs: ``GET /api/dials/{dialId}`` (SPEC §8.1)."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from domain.dials import parse_dial_id
from domain.errors import NotFound
from domain.keys import Keys
from domain.rowform import row_agent
from producer.reads import dial_view


def read_dial(client: redis.Redis, keys: Keys, ws_id: str, dial_id: str) -> dict[str, Any]:
    """The dial ``dial_id`` of workspace ``ws_id`` with its job's ``callAgentId`` and
    its row's ``inputs``, the job's ``voicemail`` action and the carrier's machine
    verdict so far (``answeredBy``: an agent of a ``leave_message`` job reads that it
    reached a machine), the row's consent and the caller-ID rule; :class:`NotFound` for
    a dial of another workspace, exactly as for one that does not exist."""
    job_id = parse_dial_id(dial_id)
    missing = NotFound(f"no dial {dial_id}")
    if job_id is None or client.hget(keys.jobws, job_id) != ws_id:
        raise missing
    with client.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.dial(ws_id, dial_id))
        pipe.hget(keys.job(ws_id, job_id), "config")
        record, config = cast(tuple[dict[str, str], str | None], tuple(pipe.execute()))
    if not record or config is None or record.get("jobId") != job_id:
        raise missing
    row = client.hget(keys.rows(ws_id, job_id), record.get("index", ""))
    stored = json.loads(cast(str, row)) if row else []
    view = dial_view(record)
    return {
        "dialId": view["dialId"],
        "jobId": job_id,
        "rowId": view["rowId"],
        "callAgentId": row_agent(stored) or str(json.loads(config)["callAgentId"]),
        "toNumber": view["toNumber"],
        "fromNumber": view["fromNumber"],
        "attempt": view["attempt"],
        "status": view["status"],
        "startedAt": view["startedAt"],
        "endedAt": view["endedAt"],
        "inputs": stored[1] if len(stored) > 1 else {},
        "voicemail": (json.loads(config).get("voicemail") or {}).get("action"),
        "answeredBy": record.get("answeredBy") or None,
        "callerIdRule": view["callerIdRule"],
        "consent": view["consent"],
    }
