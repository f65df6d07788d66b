"""The one Call Control command the API sends Telnyx: hang up on an answering machine.

When the job's ``voicemail.action`` is ``hangup`` or ``retry``, the machine verdict
(``call.machine.detection.ended``) reaches batchdial only, not the agent (the call's
webhooks come here), so the API ends the call itself: ``POST {api base}/v2/calls/
{call_control_id}/actions/hangup`` (developers.telnyx.com, Call Commands, "Hangup call";
``Bearer`` API key; ``command_id`` so that a repeat is ignored). Telnyx then sends
``call.hangup``, which ends the dial as ``voicemail`` (the verdict was remembered).
With ``leave_message`` the call is left to the agent.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import structlog

log = structlog.get_logger(__name__)

#: The job's ``voicemail.action`` values whose machine answers the API hangs up on.
HANG_UP_ON_MACHINE = frozenset({"hangup", "retry"})


class TelnyxCommands:
    """Sends Telnyx the hangup command (a short-lived client per command: a machine
    verdict comes once per call)."""

    def __init__(
        self,
        api_key: str,
        api_base: str = "https://api.telnyx.com",
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._base = api_base.rstrip("/")
        self._timeout_s = timeout_s
        self._transport = transport

    def hangup_url(self, call_control_id: str) -> str:
        """Where the hangup command of a call goes."""
        return f"{self._base}/v2/calls/{quote(call_control_id, safe='')}/actions/hangup"

    async def hangup(self, call_control_id: str, command_id: str) -> str | None:
        """Hang the call up; None when Telnyx took the command, else what went wrong
        (logged; the call then ends as the agent or Telnyx's time limit ends it, and the
        dial as ``voicemail`` all the same)."""
        body = {"command_id": command_id}
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout_s, transport=self._transport
            ) as client:
                answer = await client.post(
                    self.hangup_url(call_control_id), json=body, headers=self._headers
                )
        except httpx.HTTPError as exc:
            problem = f"Telnyx unreachable: {type(exc).__name__}"
        else:
            if answer.is_success:
                return None
            problem = f"Telnyx answered {answer.status_code}: {answer.text[:200]}"
        log.warning("telnyx_hangup_failed", call_control_id=call_control_id, problem=problem)
        return problem
