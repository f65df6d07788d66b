"""``jobs watch`` on a terminal (a live rich bar) and off one (plain lines), over an
in-memory transport."""

from __future__ import annotations

import io
import json

import httpx

from batchdial.client import Client
from batchdial.watch import watch


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _job(status: str, finished: int, live: int) -> dict[str, object]:
    return {
        "id": "job_1",
        "name": "Survey",
        "status": status,
        "maxConcurrentDials": 2,
        "counts": {
            "rows": 4,
            "queued": 4 - finished - live,
            "inProgress": live,
            "finished": finished,
            "cancelled": 0,
            "byStatus": {"completed": finished} if finished else {},
        },
    }


def _client(states: list[dict[str, object]]) -> Client:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/forecast"):
            forecast = {
                "finishAt": "2026-12-07T15:00:00.000Z",
                "days": [{"date": "2026-12-07", "dialingHours": 0.5}],
                "meanCallSeconds": 60,
                "meanCallSecondsSource": "default",
                "reason": None,
            }
            return httpx.Response(200, content=json.dumps(forecast))
        return httpx.Response(200, json=states.pop(0) if len(states) > 1 else states[0])

    return Client("http://api.test", api_key="k", transport=httpx.MockTransport(handle))


def test_on_a_terminal_a_live_bar_until_complete() -> None:
    """The bar shows finished of rows, calls against the cap and the forecast; exit 0."""
    out = _Terminal()
    states = [_job("ACTIVE", 0, 2), _job("ACTIVE", 2, 2), _job("COMPLETE", 4, 0)]
    with _client(states) as client:
        assert watch(client, "job_1", out=out, sleep=lambda _s: None) == 0
    text = out.getvalue()
    assert "━" in text
    assert "4/4" in text
    assert "in progress 2/2" in text
    assert "finish ~2026-12-07T15:00:00.000Z (1 day of dialing, 0.5 h; calls 60 s, default)" in text


def test_off_a_terminal_a_line_per_change_and_3_when_cancelled() -> None:
    """Plain lines only when the counts change; a cancelled job exits 3."""
    out = io.StringIO()
    states = [_job("ACTIVE", 1, 1), _job("ACTIVE", 1, 1), _job("CANCELLED", 1, 0)]
    with _client(states) as client:
        assert watch(client, "job_1", out=out, sleep=lambda _s: None) == 3
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("ACTIVE    finished 1/4  in progress 1/2  queued 2  completed 1")
    assert lines[1].startswith("CANCELLED finished 1/4")
