"""Answering-machine verdicts a carrier reports apart from the call's end (Telnyx's
``call.machine.detection.ended`` comes before its ``call.hangup``): remembered on the
live dial (``dial_verdict.lua``) and read back when the end arrives, so that the dial
keeps its slot until the call really ends and then ends as the verdict says."""

from __future__ import annotations

import json
from typing import cast

import redis

from domain.dials import DialRef
from domain.keys import Keys
from domain.protocol import parse_dial_status
from domain.scripts import Scripts


class MachineVerdicts:
    """Remembers and recalls the answering-machine verdict of a live dial."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._scripts = Scripts(client)

    def remember(self, ref: DialRef, verdict: str) -> bool:
        """Record ``verdict`` on the dial while it is live; whether that changed it."""
        raw = self._scripts("dial_verdict", [self._k.dial(ref.ws_id, ref.dial_id)], [verdict])
        return parse_dial_status(raw).changed

    def recall(self, ref: DialRef) -> str | None:
        """The verdict remembered on the dial, if any."""
        value = self._r.hget(self._k.dial(ref.ws_id, ref.dial_id), "answeredBy")
        return cast(str | None, value) or None

    def voicemail_action(self, ref: DialRef) -> str | None:
        """The ``voicemail.action`` of the dial's job (SPEC §8.5), if it has one."""
        raw = cast(str | None, self._r.hget(self._k.job(ref.ws_id, ref.job_id), "config"))
        try:
            voicemail = json.loads(raw).get("voicemail") if raw else None
        except (ValueError, AttributeError):
            return None
        action = voicemail.get("action") if isinstance(voicemail, dict) else None
        return action if isinstance(action, str) else None
