"""Number health (SPEC §8.5): each pool number's dials, answered calls and voicemails
over the last 24 hours, and the quarantine of a number whose answer rate falls under
the workspace's ``quarantineBelowAnswerRate``.

``finish_dial.lua`` counts every ended dial in its number's health hash, one field per
hour and kind (``"<hour>:d"`` dials, ``":a"`` answered = ``completed``, ``":v"``
voicemail; hour = ms // 3,600,000); the last 24 hours are the current hour and the 23
before it. The same script quarantines (rests for a day, ``number.quarantined``) a
number with at least :data:`MIN_DIALS` dials in that window whose answer rate is under
the setting; the claim restores it when the day is over (``number.restored``).
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis
from prometheus_client.core import GaugeMetricFamily

from domain.keys import Keys

HOUR_MS = 3_600_000
HOURS = 24
#: Dials in the window before a number's answer rate can quarantine it.
MIN_DIALS = 20


def _fields(now_ms: int) -> list[str]:
    hour = now_ms // HOUR_MS
    return [f"{h}:{kind}" for h in range(hour - HOURS + 1, hour + 1) for kind in "dav"]


def stats_of(values: list[str | None]) -> dict[str, Any]:
    """The stats object from the HMGET of :func:`_fields` (d, a, v per hour)."""
    dials = sum(int(v or 0) for v in values[0::3])
    answered = sum(int(v or 0) for v in values[1::3])
    voicemail = sum(int(v or 0) for v in values[2::3])
    return {
        "dials": dials,
        "answered": answered,
        "voicemail": voicemail,
        "answerRate": round(answered / dials, 4) if dials else None,
        "voicemailRate": round(voicemail / dials, 4) if dials else None,
    }


def number_stats(
    client: redis.Redis, keys: Keys, ws_id: str, number_ids: list[str], now_ms: int
) -> dict[str, dict[str, Any]]:
    """Each number's stats over the last 24 hours."""
    fields = _fields(now_ms)
    with client.pipeline(transaction=False) as pipe:
        for number_id in number_ids:
            pipe.hmget(keys.ws_key(ws_id, "k_number_health", number_id), fields)
        answers = cast(list[list[str | None]], pipe.execute())
    return {n: stats_of(values) for n, values in zip(number_ids, answers, strict=True)}


def redis_ms(client: redis.Redis) -> int:
    """Redis's clock in ms (the clock the scripts count with)."""
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


#: Workspaces whose numbers a metrics scrape reports (the first, by id).
METRICS_WORKSPACES = 1000


def number_families(client: redis.Redis, keys: Keys, now_ms: int) -> list[GaugeMetricFamily]:
    """Per pool number (labels: workspace, number id; never a recipient's number): dials,
    answer rate and voicemail rate over 24 h, and whether it rests."""
    dials = GaugeMetricFamily(
        "batchdial_number_dials_24h",
        "Dials ended on a pool number over the last 24 hours.",
        labels=["workspace", "number_id"],
    )
    answer = GaugeMetricFamily(
        "batchdial_number_answer_rate_24h",
        "A pool number's answered (completed) dials over its dials, last 24 hours.",
        labels=["workspace", "number_id"],
    )
    voicemail = GaugeMetricFamily(
        "batchdial_number_voicemail_rate_24h",
        "A pool number's voicemail dials over its dials, last 24 hours.",
        labels=["workspace", "number_id"],
    )
    resting = GaugeMetricFamily(
        "batchdial_number_resting",
        "1 while a pool number rests (by hand or quarantined).",
        labels=["workspace", "number_id"],
    )
    ws_ids = sorted(cast(set[str], client.smembers(keys.workspaces)))[:METRICS_WORKSPACES]
    with client.pipeline(transaction=False) as pipe:
        for ws_id in ws_ids:
            pipe.hgetall(keys.numbers(ws_id))
        numbers = cast(list[dict[str, str]], pipe.execute())
    for ws_id, pool in zip(ws_ids, numbers, strict=True):
        stats = number_stats(client, keys, ws_id, sorted(pool), now_ms)
        for number_id, raw in sorted(pool.items()):
            labels = [ws_id, number_id]
            one = stats[number_id]
            dials.add_metric(labels, one["dials"])
            answer.add_metric(labels, one["answerRate"] or 0.0)
            voicemail.add_metric(labels, one["voicemailRate"] or 0.0)
            rest = int(json.loads(raw).get("rest", 0))
            resting.add_metric(labels, 1 if rest < 0 or rest > now_ms else 0)
    return [dials, answer, voicemail, resting]
